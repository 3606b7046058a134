//! `hercules campaign`: a profiling campaign over a cluster's node types on Slurm. Writes a job-array
//! script (one task per model, each running `hercules profile` on a whole node into a shared folder),
//! submits it once per partition, and can emit the same campaign as Kubernetes Indexed Jobs. A
//! requeued task runs the same command, and `profile` resumes from the checkpoint it left there.

use crate::engine::DEEPRECSYS;
use crate::output::{self, check_writable};
use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Arguments of `hercules campaign`.
#[derive(Debug, Args)]
pub struct CampaignArgs {
    /// Model to profile, one array task each; repeatable.
    #[arg(long = "model", required_unless_present = "all")]
    pub models: Vec<String>,
    /// The eight DeepRecSys models.
    #[arg(long, conflicts_with = "models")]
    pub all: bool,
    /// Slurm partition holding one node type; the array is submitted once to each (default: the
    /// cluster's default partition). Repeatable.
    #[arg(long = "partition")]
    pub partitions: Vec<String>,
    /// Shared folder every node writes to: tables land in `DIR/<partition>/<server-type>/`, task logs
    /// in `DIR/logs/`. Give a path the nodes see alike (absolute).
    #[arg(long)]
    pub out: PathBuf,
    /// The `hercules` binary as the nodes see it (default: this one).
    #[arg(long)]
    pub bin: Option<PathBuf>,
    /// Wall-time limit of one task, as Slurm's `--time` takes it (`MM`, `HH:MM:SS`, `D-HH:MM:SS`).
    #[arg(long, default_value = "04:00:00")]
    pub time: String,
    /// Submit with `sbatch` (default: write the script and print the commands that would submit it).
    #[arg(long)]
    pub submit: bool,
    /// Also write the campaign as Kubernetes Indexed Jobs (one per partition, read as a node
    /// instance type) to this YAML file.
    #[arg(long)]
    pub k8s: Option<PathBuf>,
    /// Container image with `hercules` on its PATH, for `--k8s`.
    #[arg(long, default_value = "hercules:latest")]
    pub image: String,
    /// Arguments after `--` go to every `hercules profile` (e.g. `-- --search gradient --budget 3`).
    #[arg(last = true)]
    pub profile_args: Vec<String>,
}

/// Most tasks of one array (Slurm's default `MaxArraySize` is 1001).
const MAX_TASKS: usize = 1000;

/// What `campaign` submitted, written to `DIR/campaign.json`.
#[derive(Debug, Serialize)]
struct Submitted {
    kind: &'static str,
    script: String,
    models: Vec<String>,
    jobs: Vec<Job>,
}

#[derive(Debug, Serialize)]
struct Job {
    partition: Option<String>,
    job_id: String,
}

/// `'...'` with every `'` closed, escaped and reopened: safe in any POSIX shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A name that is also a folder and a Slurm/Kubernetes word.
fn check_name(what: &str, s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s != "."
        && s != ".."
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-:".contains(c));
    if !ok {
        bail!("{what} `{}`: use 1 to 63 of A-Z a-z 0-9 . _ - : (it names a folder)", s.escape_debug());
    }
    Ok(())
}

fn check_time(t: &str) -> Result<()> {
    let (days, rest) = t.split_once('-').map_or((None, t), |(d, r)| (Some(d), r));
    let parts: Vec<&str> = rest.split(':').collect();
    let digits = |s: &str| !s.is_empty() && s.len() <= 4 && s.chars().all(|c| c.is_ascii_digit());
    if !(days.is_none_or(digits) && (1..=3).contains(&parts.len()) && parts.iter().all(|p| digits(p))) {
        bail!("--time `{}` is not a Slurm time (MM, HH:MM:SS or D-HH:MM:SS)", t.escape_debug());
    }
    Ok(())
}

/// The job-array script: task `i` profiles `models[i]` into `out/<partition>/`.
fn sbatch_script(models: &[String], out: &Path, bin: &Path, time: &str, profile_args: &[String]) -> String {
    let out_q = quote(&out.display().to_string());
    let models_q: Vec<String> = models.iter().map(|m| quote(m)).collect();
    let args_q: Vec<String> = profile_args.iter().map(|a| quote(a)).collect();
    format!(
        "#!/usr/bin/env bash\n\
         # Written by `hercules campaign`: one array task per model, each on a whole node of the partition\n\
         # it was submitted to (`sbatch --partition=P --array=0-{last} <this file>`).\n\
         #SBATCH --job-name=hercules-campaign\n\
         #SBATCH --nodes=1\n\
         #SBATCH --exclusive\n\
         #SBATCH --requeue\n\
         #SBATCH --time={time}\n\
         #SBATCH --output={log}/%x-%A_%a.out\n\
         set -euo pipefail\n\
         models=({models})\n\
         model=${{models[$SLURM_ARRAY_TASK_ID]}}\n\
         part=${{SLURM_JOB_PARTITION:-default}}\n\
         mkdir -p {out_q}/\"$part\"\n\
         # A requeued task runs this same command: profile resumes from its checkpoint in that folder.\n\
         exec {bin} profile --model \"$model\" --out {out_q}/\"$part\" {args}\n",
        last = models.len().saturating_sub(1),
        log = out.join("logs").display(),
        models = models_q.join(" "),
        bin = quote(&bin.display().to_string()),
        args = args_q.join(" "),
    )
}

/// Kubernetes Indexed Jobs, one per partition (read as `node.kubernetes.io/instance-type`).
fn k8s_manifest(
    models: &[String],
    partitions: &[Option<String>],
    image: &str,
    profile_args: &[String],
) -> String {
    let models_q: Vec<String> = models.iter().map(|m| quote(m)).collect();
    let args_q: Vec<String> = profile_args.iter().map(|a| quote(a)).collect();
    let mut docs = Vec::new();
    for p in partitions {
        let name = p.as_deref().unwrap_or("default").to_ascii_lowercase().replace(['_', '.', ':'], "-");
        let selector = p.as_ref().map_or(String::new(), |p| {
            format!("      nodeSelector:\n        node.kubernetes.io/instance-type: {}\n", json_str(p))
        });
        docs.push(format!(
            "# hercules campaign on {part}: completion index i profiles model i into the shared volume.\n\
             # Give each pod a whole node (request all its CPUs, or taint the pool) so trials are not shared.\n\
             apiVersion: batch/v1\n\
             kind: Job\n\
             metadata:\n  name: hercules-campaign-{name}\n\
             spec:\n  completionMode: Indexed\n  completions: {n}\n  parallelism: {n}\n  backoffLimitPerIndex: 3\n  maxFailedIndexes: {n}\n\
             \x20 template:\n    spec:\n      restartPolicy: Never\n{selector}\
             \x20     containers:\n      - name: profile\n        image: {image}\n        command: [\"bash\", \"-c\"]\n        args:\n        - |\n\
             \x20         models=({models})\n\
             \x20         mkdir -p /results/{name}\n\
             \x20         exec hercules profile --model \"${{models[$JOB_COMPLETION_INDEX]}}\" --out /results/{name} {args}\n\
             \x20       volumeMounts:\n        - name: results\n          mountPath: /results\n\
             \x20     volumes:\n      - name: results\n        persistentVolumeClaim:\n          claimName: hercules-results\n",
            part = p.as_deref().unwrap_or("the default node pool"),
            n = models.len(),
            image = json_str(image),
            models = models_q.join(" "),
            args = args_q.join(" "),
        ));
    }
    docs.join("---\n")
}

/// A JSON string is a YAML scalar that needs no further quoting rules.
fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Runs `hercules campaign`.
pub fn run(a: CampaignArgs) -> Result<()> {
    let models: Vec<String> =
        if a.all { DEEPRECSYS.iter().map(|s| s.to_string()).collect() } else { a.models.clone() };
    if models.is_empty() || models.len() > MAX_TASKS {
        bail!("--model: give 1 to {MAX_TASKS} models (got {})", models.len());
    }
    for m in &models {
        if m.contains(['\n', '\0']) {
            bail!("--model `{}`: no newlines or NUL bytes", m.escape_debug());
        }
    }
    for p in &a.partitions {
        check_name("--partition", p)?;
    }
    check_time(&a.time)?;
    // `#SBATCH --output` takes the path as one word, unquoted.
    if a.out.to_string_lossy().contains(|c: char| c.is_whitespace() || c == '%') {
        bail!("--out {}: the shared folder's path may not hold spaces or `%` (Slurm's #SBATCH lines take it unquoted)", a.out.display());
    }
    let bin = match &a.bin {
        Some(b) => b.clone(),
        None => std::env::current_exe().context("cannot tell where this hercules binary is; pass --bin")?,
    };
    std::fs::create_dir_all(a.out.join("logs"))
        .with_context(|| format!("cannot create {}", a.out.join("logs").display()))?;
    let script = a.out.join("campaign.sbatch");
    check_writable(&script)?;
    let text = sbatch_script(&models, &a.out, &bin, &a.time, &a.profile_args);
    output::write_atomic(&script, text.as_bytes())?;
    let parts: Vec<Option<String>> =
        if a.partitions.is_empty() { vec![None] } else { a.partitions.iter().cloned().map(Some).collect() };
    if let Some(k) = &a.k8s {
        check_writable(k)?;
        output::write_atomic(k, k8s_manifest(&models, &parts, &a.image, &a.profile_args).as_bytes())?;
        println!("kubernetes: {} ({} Indexed Job(s))", k.display(), parts.len());
    }
    let array = format!("--array=0-{}", models.len() - 1);
    let command = |p: &Option<String>| {
        let mut c = vec!["sbatch".to_string(), "--parsable".into()];
        c.extend(p.as_ref().map(|p| format!("--partition={p}")));
        c.push(array.clone());
        c.push(script.display().to_string());
        c
    };
    if !a.submit {
        println!("script: {}", script.display());
        for p in &parts {
            println!("{}", command(p).iter().map(|w| quote(w)).collect::<Vec<_>>().join(" "));
        }
        return Ok(());
    }
    let mut jobs = Vec::new();
    for p in &parts {
        let c = command(p);
        let out = match Command::new(&c[0]).args(&c[1..]).output() {
            Ok(o) => o,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "sbatch is not installed (not on PATH): install Slurm's client tools, or run without --submit \
                 and submit the printed commands where Slurm is"
            ),
            Err(e) => bail!("cannot run sbatch: {e}"),
        };
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            bail!(
                "sbatch failed for partition {}: {}",
                p.as_deref().unwrap_or("(default)"),
                err.lines().next().unwrap_or("no message").trim()
            );
        }
        // `--parsable` prints `<job id>[;<cluster>]`.
        let id =
            String::from_utf8_lossy(&out.stdout).trim().split(';').next().unwrap_or_default().to_string();
        println!(
            "submitted job array {id} ({} tasks) to {}",
            models.len(),
            p.as_deref().unwrap_or("the default partition")
        );
        jobs.push(Job { partition: p.clone(), job_id: id });
    }
    let doc = Submitted { kind: "campaign", script: script.display().to_string(), models, jobs };
    output::write_json(&a.out.join("campaign.json"), &doc)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_any_word() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn names_and_times_are_checked() {
        check_name("--partition", "cpu-zen4").unwrap();
        for bad in ["", "..", "a/b", "a b", "x;rm"] {
            assert!(check_name("--partition", bad).unwrap_err().to_string().starts_with("--partition `"));
        }
        for good in ["30", "04:00:00", "1-00:00:00", "10:00"] {
            check_time(good).unwrap();
        }
        for bad in ["", "4h", "1-", "::", "1:2:3:4"] {
            assert!(check_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_script_runs_one_model_per_task_and_resumes_in_place() {
        let m = vec!["dlrm-rmc1".to_string(), "sleep:300".to_string()];
        let s = sbatch_script(
            &m,
            Path::new("/shared/r"),
            Path::new("/opt/hercules"),
            "01:00:00",
            &["--budget".into(), "3".into()],
        );
        assert!(s.starts_with("#!/usr/bin/env bash\n"));
        for want in [
            "#SBATCH --exclusive",
            "#SBATCH --requeue",
            "#SBATCH --time=01:00:00",
            "#SBATCH --output=/shared/r/logs/%x-%A_%a.out",
            "models=('dlrm-rmc1' 'sleep:300')",
            "exec '/opt/hercules' profile --model \"$model\" --out '/shared/r'/\"$part\" '--budget' '3'",
            "--array=0-1",
        ] {
            assert!(s.contains(want), "{want} missing from\n{s}");
        }
        let k = k8s_manifest(&m, &[Some("c5.xlarge".into()), None], "img", &[]);
        assert_eq!(k.matches("kind: Job").count(), 2);
        assert!(k.contains("completionMode: Indexed") && k.contains("completions: 2"));
        assert!(k.contains("node.kubernetes.io/instance-type: \"c5.xlarge\""));
        assert!(k.contains("name: hercules-campaign-c5-xlarge"));
    }
}
