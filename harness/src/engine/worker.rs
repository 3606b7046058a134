//! One instance: a thread pinned to the instance's cores that owns the model's per-instance state
//! (and, through it, the intra-op pool on those cores) and runs sub-batches from the shared queue
//! until the queue closes.

use super::queue::SubBatch;
use super::{EngineError, Instance, Model};
use crossbeam_channel::Receiver;
use hercules_kernels::pool;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

/// Starts a worker (`name`: "instance 0", "gpu stream 1") on `cores` and waits until its model state
/// is built (so a failed worker is reported before any load is offered).
pub fn spawn(
    name: String,
    cores: Vec<usize>,
    inter_op: bool,
    model: Arc<dyn Model>,
    queue: Receiver<SubBatch>,
) -> Result<JoinHandle<()>, EngineError> {
    let (ready_tx, ready_rx) = crossbeam_channel::bounded::<Result<(), String>>(1);
    let label = name.clone();
    let handle = std::thread::Builder::new()
        .name(format!("hercules-{}", name.replace(' ', "-")))
        .spawn(move || {
            // Built on its own thread pinned to the instance's cores, so its memory is first
            // touched on their NUMA node and the model may start a PinnedPool on them (a pool
            // checks its cores against the calling thread's mask).
            let instance = pin_to(&cores).map_err(|e| format!("{name}: {e}")).and_then(|()| {
                model.instance(&cores, inter_op).map_err(|e| format!("{name} on cores {cores:?}: {e:#}"))
            });
            let mut instance: Box<dyn Instance> = match instance {
                Ok(i) => {
                    let _ = ready_tx.send(Ok(()));
                    i
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            serve(&name, &mut *instance, &queue);
        })
        .map_err(|e| EngineError::Start(format!("spawning {label}: {e}")))?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(EngineError::Start(e))
        }
        Err(_) => {
            let _ = handle.join();
            Err(EngineError::Start(format!("{label} exited while starting")))
        }
    }
}

/// Pins the calling thread to exactly `cores` and checks that the mask took.
pub fn pin_to(cores: &[usize]) -> Result<(), String> {
    pool::pin_current_to(cores).map_err(|e| e.to_string())
}

/// The instance loop: take a sub-batch, run it (unless its trial was aborted), mark it done.
fn serve(name: &str, instance: &mut dyn Instance, queue: &Receiver<SubBatch>) {
    while let Ok(sb) = queue.recv() {
        let trial = &sb.trial;
        if trial.abort.load(Ordering::Acquire) {
            trial.finish_sub_batch(sb.query, false);
            continue;
        }
        // A panicking model must not kill the instance: its sub-batch would never finish and the
        // trial would wait for it. The panic becomes the trial's error instead.
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| instance.run(sb.size as usize)))
            .unwrap_or_else(|p| {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".into());
                Err(anyhow::anyhow!("panicked: {msg}"))
            });
        match ran {
            Ok(()) => trial.finish_sub_batch(sb.query, true),
            Err(e) => {
                trial.fail(format!("{name}, query {} ({} items): {e:#}", sb.query, sb.size));
                trial.finish_sub_batch(sb.query, false);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_to_a_set_and_refuses_foreign_cores() {
        let allowed = pool::allowed_cores();
        std::thread::spawn(move || {
            pin_to(&allowed).unwrap();
            assert_eq!(pool::current_affinity().unwrap(), allowed);
            pin_to(&allowed[..1]).unwrap();
            assert_eq!(pool::current_affinity().unwrap(), vec![allowed[0]]);
            assert!(pin_to(&[allowed[0], 100_000]).unwrap_err().contains("100000"));
        })
        .join()
        .unwrap();
    }
}
