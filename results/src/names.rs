//! Server-type and model names: each names a folder or file (`profile --out DIR/<server type>`, the
//! merged inventory), so the harness that writes them and the analysis that reads them agree on one
//! rule, here.

/// Longest server-type or model name.
pub const MAX_NAME_LEN: usize = 64;

/// The rule, for messages.
pub const NAME_RULE: &str = "1 to 64 of A-Z a-z 0-9 . _ - : (not `.` or `..`)";

/// Whether `s` is a safe folder name: 1 to [`MAX_NAME_LEN`] of `A-Z a-z 0-9 . _ - :`, not `.` or
/// `..` (so it can never reach outside the folder it is joined to). The colon is for the harness's
/// synthetic models (`sleep:300`).
pub fn is_folder_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s != "."
        && s != ".."
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-:".contains(c))
}

/// `s` made a safe folder name of `A-Z a-z 0-9 . _ -` only (other characters, the colon too, become
/// `-`), cut to [`MAX_NAME_LEN`]; `fallback` where nothing usable is left.
pub fn folder_name(s: &str, fallback: &str) -> String {
    let n: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' })
        .take(MAX_NAME_LEN)
        .collect();
    if is_folder_name(&n) {
        n
    } else {
        fallback.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_inside_their_folder() {
        for bad in ["", ".", "..", "../x", "a/b", "a b", "é", "x\n", &"a".repeat(65)] {
            assert!(!is_folder_name(bad), "{bad:?}");
        }
        for good in ["tiny-1c", "A.b_c-9", "...", "sleep:300", &"a".repeat(64)] {
            assert!(is_folder_name(good), "{good:?}");
        }
        assert_eq!(folder_name("a/../b", "cpu"), "a-..-b");
        assert_eq!(folder_name("sleep:300", "model"), "sleep-300");
        assert_eq!(folder_name("..", "cpu"), "cpu");
        assert_eq!(folder_name("", "cpu"), "cpu");
        assert_eq!(folder_name(&"y".repeat(100), "cpu").len(), MAX_NAME_LEN);
        let long = "Ünïcode/../..\\ ".repeat(40);
        assert!(is_folder_name(&folder_name(&long, "cpu")));
    }
}
