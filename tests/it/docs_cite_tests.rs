//! SECURITY.md, README.md and the pages in docs/ back their promises with
//! test names. Each name they cite must be a test that exists (in the file
//! they name, when a row names one), so that a renamed or deleted test cannot
//! leave a promise pointing at nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The documents whose test citations are checked: SECURITY.md, README.md
/// and every page in docs/, relative to the crate root.
fn docs() -> Vec<String> {
    let mut out = vec!["SECURITY.md".to_string(), "README.md".to_string()];
    let mut pages: Vec<String> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    pages.sort();
    out.extend(pages);
    out
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `#[test]` functions of one Rust file.
fn tests_in(text: &str) -> Vec<String> {
    let mut out = vec![];
    let mut armed = false;
    for line in text.lines().map(str::trim) {
        if line == "#[test]" {
            armed = true;
        } else if armed && let Some(rest) = line.strip_prefix("fn ") {
            out.push(rest.split('(').next().unwrap_or("").to_string());
            armed = false;
        }
        // Anything else between #[test] and the fn is another attribute,
        // perhaps over several lines (`#[cfg_attr(\n ... \n)]`).
    }
    out
}

/// Every test, by the file it is in (relative to the crate root).
fn all_tests() -> BTreeMap<String, Vec<String>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = vec![];
    walk(&root().join("src"), &mut files);
    walk(&root().join("tests"), &mut files);
    files
        .into_iter()
        .map(|f| {
            let rel = f.strip_prefix(root()).unwrap().display().to_string();
            (rel, tests_in(&std::fs::read_to_string(&f).unwrap()))
        })
        .collect()
}

/// The `code spans` of one line.
fn spans(line: &str) -> Vec<&str> {
    line.split('`').skip(1).step_by(2).collect()
}

/// A span that reads as a test name: snake case of at least four words.
fn is_test_name(s: &str) -> bool {
    s.split('_').count() >= 4
        && s.split('_').all(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// What is wrong with the citations in `doc`, one line each.
fn problems(doc: &str, text: &str, tests: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut out = vec![];
    for (n, line) in text.lines().enumerate() {
        let spans = spans(line);
        let file = spans
            .iter()
            .find(|s| s.starts_with("tests/") && s.ends_with(".rs"));
        if let Some(f) = file
            && !root().join(f).is_file()
        {
            out.push(format!("{doc}:{}: {f} does not exist", n + 1));
        }
        for name in spans.iter().filter(|s| is_test_name(s)) {
            let found: Vec<&String> = tests
                .iter()
                .filter(|(_, names)| names.iter().any(|t| t == name))
                .map(|(f, _)| f)
                .collect();
            match (found.as_slice(), file) {
                ([], _) => out.push(format!("{doc}:{}: no test called {name}", n + 1)),
                (files, Some(f)) if !files.iter().any(|x| x == f) => out.push(format!(
                    "{doc}:{}: {name} is not in {f} but in {}",
                    n + 1,
                    files
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                _ => {}
            }
        }
    }
    out
}

#[test]
fn every_test_cited_in_the_documents_exists() {
    let tests = all_tests();
    let mut cited = 0;
    let mut wrong = vec![];
    for doc in docs() {
        let text = std::fs::read_to_string(root().join(&doc)).unwrap();
        cited += text
            .lines()
            .flat_map(spans)
            .filter(|s| is_test_name(s))
            .count();
        wrong.extend(problems(&doc, &text, &tests));
    }
    assert!(cited >= 20, "the documents cite tests: {cited}");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_check_finds_a_missing_test_and_a_wrong_file() {
    let tests = all_tests();
    let text = "| x | `tests/it/faults.rs` `no_such_test_was_ever_written` |\n\
                | y | `tests/it/faults.rs` `state_files_are_private` |\n\
                | z | `tests/no_such_file.rs` |\n\
                | ok | `tests/it/git_and_ssh.rs` `state_files_are_private`, `api.token_file` |\n";
    assert_eq!(
        problems("DOC", text, &tests),
        [
            "DOC:1: no test called no_such_test_was_ever_written",
            "DOC:2: state_files_are_private is not in tests/it/faults.rs but in tests/it/git_and_ssh.rs",
            "DOC:3: tests/no_such_file.rs does not exist",
        ]
    );
}
