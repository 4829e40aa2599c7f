//! certsh's layers, checked from its source: every `crate::` path in `src/`
//! is an import of one module by another. No two modules may import each
//! other, directly or around a loop (the folders as units, and the files
//! within each folder), and no module may import from a layer above its own.
//! `docs/architecture.md` describes the layers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, highest first. A folder imports only from its own row or the
/// rows below it. `lib` is the crate root (`lib.rs`), which dispatches to all.
const LAYERS: &[&[&str]] = &[
    &["lib"],
    &["report", "setup"],
    &["connect", "agent"],
    &["credentials"],
    &["state"],
    &["config"],
    &["util"],
];

fn rank(folder: &str) -> usize {
    LAYERS
        .iter()
        .position(|row| row.contains(&folder))
        .unwrap_or_else(|| panic!("src/{folder} is in no layer: add it to LAYERS"))
}

/// A module: its folder and its file (`mod` for a folder's `mod.rs`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Module {
    folder: String,
    file: String,
}

impl std::fmt::Display for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.folder == "lib" {
            f.write_str("lib")
        } else {
            write!(f, "{}::{}", self.folder, self.file)
        }
    }
}

/// One import: who, whom, and the line that says it.
struct Import {
    from: Module,
    to: Module,
    line: String,
}

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module a file under `src/` is; `None` for `main.rs` and
/// `bin/certsh-ssh.rs`, the binaries, which only use the library from
/// outside.
fn module_of(path: &Path) -> Option<Module> {
    let rel = path.strip_prefix(src()).unwrap();
    let parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    match parts.as_slice() {
        [f] if f == "lib" => Some(Module {
            folder: "lib".into(),
            file: "lib".into(),
        }),
        [f] if f == "main" => None,
        [dir, _] if dir == "bin" => None,
        [folder, file] => Some(Module {
            folder: folder.clone(),
            file: file.clone(),
        }),
        // A file's own folder (`a/b/mod.rs`, `a/b/c.rs`) holds the parts of
        // file `b`: one module of folder `a`, split by job.
        [folder, file, _] => Some(Module {
            folder: folder.clone(),
            file: file.clone(),
        }),
        _ => panic!(
            "{}: certsh's folders are at most two levels deep",
            rel.display()
        ),
    }
}

/// The modules named by the `crate::` paths of one file: `crate::a::b`
/// names file `b` of folder `a` when `src/a/b.rs` exists, else `a`'s
/// `mod.rs`. Grouped uses (`crate::a::{b, c::D}`) name each member.
fn imports_in(text: &str) -> Vec<(Module, String)> {
    let mut out = vec![];
    // Lines of comments say nothing about imports.
    let code: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect();
    let joined = code.join("\n");
    let mut rest = joined.as_str();
    while let Some(at) = rest.find("crate::") {
        let line_start = rest[..at].rfind('\n').map_or(0, |i| i + 1);
        let line_end = rest[at..].find('\n').map_or(rest.len(), |i| at + i);
        let line = rest[line_start..line_end].trim().to_string();
        let path = &rest[at + "crate::".len()..];
        let folder: String = path
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let after = &path[folder.len()..];
        let mut files = vec![];
        if let Some(sub) = after.strip_prefix("::{") {
            // `crate::a::{b, c::D}`: the members up to the matching brace.
            let mut depth = 1;
            let mut end = 0;
            for (i, c) in sub.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    end = i;
                    break;
                }
            }
            let mut d = 0;
            let mut start = 0;
            let inner = &sub[..end];
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => d += 1,
                    '}' => d -= 1,
                    ',' if d == 0 => {
                        files.push(first_word(&inner[start..i]));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            files.push(first_word(&inner[start..]));
        } else if let Some(sub) = after.strip_prefix("::") {
            files.push(first_word(sub));
        } else {
            files.push(String::new());
        }
        for file in files {
            let file =
                if !file.is_empty() && src().join(&folder).join(format!("{file}.rs")).exists() {
                    file
                } else {
                    "mod".to_string()
                };
            out.push((
                Module {
                    folder: folder.clone(),
                    file,
                },
                line.clone(),
            ));
        }
        rest = &rest[at + "crate::".len()..];
    }
    out
}

fn first_word(s: &str) -> String {
    s.trim()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

fn all_imports() -> Vec<Import> {
    let mut files = vec![];
    rust_files(&src(), &mut files);
    files.sort();
    let mut out = vec![];
    for path in files {
        let Some(from) = module_of(&path) else {
            continue;
        };
        let text = std::fs::read_to_string(&path).unwrap();
        for (to, line) in imports_in(&text) {
            if to != from {
                out.push(Import {
                    from: from.clone(),
                    to,
                    line,
                });
            }
        }
    }
    assert!(
        out.len() > 50,
        "too few imports found: the reader is broken"
    );
    out
}

/// A cycle in `edges`, as the path around it, if there is one.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(node) {
            Some(1) => {
                let from = path.iter().position(|n| n == node).unwrap();
                let mut cycle = path[from..].to_vec();
                cycle.push(node.to_string());
                return Some(cycle);
            }
            Some(2) => return None,
            _ => {}
        }
        state.insert(node.to_string(), 1);
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, edges, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(node.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in edges.keys() {
        if let Some(c) = visit(node, edges, &mut state, &mut vec![]) {
            return Some(c);
        }
    }
    None
}

/// The import lines behind each step of a cycle, for the message.
fn explain(cycle: &[String], lines: &BTreeMap<(String, String), String>) -> String {
    cycle
        .windows(2)
        .map(|w| {
            format!(
                "  {} -> {}: {}",
                w[0],
                w[1],
                lines[&(w[0].clone(), w[1].clone())]
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn no_cycle_between_folders() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut lines = BTreeMap::new();
    for i in all_imports() {
        if i.from.folder != i.to.folder {
            edges
                .entry(i.from.folder.clone())
                .or_default()
                .insert(i.to.folder.clone());
            lines
                .entry((i.from.folder.clone(), i.to.folder.clone()))
                .or_insert(format!(
                    "src/{}.rs: {}",
                    i.from.to_string().replace("::", "/"),
                    i.line
                ));
        }
    }
    if let Some(c) = find_cycle(&edges) {
        panic!(
            "the folders import each other in a loop:\n{}",
            explain(&c, &lines)
        );
    }
}

#[test]
fn no_cycle_between_files_of_a_folder() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut lines = BTreeMap::new();
    for i in all_imports() {
        if i.from.folder == i.to.folder {
            let (a, b) = (i.from.to_string(), i.to.to_string());
            edges.entry(a.clone()).or_default().insert(b.clone());
            lines.entry((a, b)).or_insert(i.line);
        }
    }
    if let Some(c) = find_cycle(&edges) {
        panic!(
            "these files import each other in a loop:\n{}",
            explain(&c, &lines)
        );
    }
}

#[test]
fn no_import_from_a_higher_layer() {
    let mut wrong = vec![];
    for i in all_imports() {
        if rank(&i.to.folder) < rank(&i.from.folder) {
            wrong.push(format!(
                "  {} (layer {}) imports {} (layer {}): {}",
                i.from,
                rank(&i.from.folder),
                i.to,
                rank(&i.to.folder),
                i.line
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "imports from a higher layer (LAYERS in tests/it/architecture.rs):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_folder_is_in_a_layer_and_every_file_says_what_it_is_for() {
    let mut files = vec![];
    rust_files(&src(), &mut files);
    for path in files {
        if let Some(m) = module_of(&path) {
            rank(&m.folder);
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("//!"),
            "{} does not start with a //! line saying what it is for",
            path.display()
        );
    }
}

#[test]
fn the_reader_finds_grouped_and_inline_imports() {
    let found: Vec<String> = imports_in(
        "use crate::state::{cert::{self, now}, store::Store};\n\
         // crate::report::show is a comment\n\
         let x = crate::util::log::debug(1);\n",
    )
    .into_iter()
    .map(|(m, _)| m.to_string())
    .collect();
    assert_eq!(found, ["state::cert", "state::store", "util::log"]);
}

/// What differs between Unix and Windows lives in `src/util/platform/`; the
/// rest of the code does not name a platform's API or `cfg(unix)`, except
/// the features that are Unix-only for now (`certsh agent`, and the
/// ownership walk of `config/trust.rs`) and their gate in `lib.rs`. Unit
/// tests may (a test of a mode is a Unix test).
#[test]
fn only_the_platform_module_names_a_platform() {
    const NAMES: &[&str] = &[
        "std::os::unix",
        "std::os::windows",
        "rustix::",
        "windows_sys",
        "cfg(unix)",
        "cfg(windows)",
        "cfg(not(unix))",
        "cfg(not(windows))",
    ];
    let allowed = |rel: &str| {
        rel.starts_with("util/platform/")
            || rel.starts_with("agent/")
            || rel == "config/trust.rs"
            || rel == "lib.rs"
            || rel.ends_with("/tests.rs")
    };
    let mut files = vec![];
    rust_files(&src(), &mut files);
    let mut found = vec![];
    for path in files {
        let rel = path
            .strip_prefix(src())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if allowed(&rel) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text
            .split("\n#[cfg(test)]")
            .next()
            .unwrap()
            .split("\n#[cfg(all(test")
            .next()
            .unwrap();
        for (n, line) in code.lines().enumerate() {
            if !line.trim_start().starts_with("//") && NAMES.iter().any(|name| line.contains(name))
            {
                found.push(format!("src/{rel}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "platform code outside src/util/platform/:\n{}",
        found.join("\n")
    );
}

/// The install layout is `Layout` (`src/connect/shim.rs`); the scripts and
/// the Debian package that make or use an install spell its paths, and no
/// other path under `libexec`.
#[test]
fn the_scripts_spell_the_install_layout_as_layout_does() {
    use certsh::connect::shim::Layout;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let folder = Layout::SHIM.rsplit_once('/').unwrap().0;
    let word = regex::Regex::new(r#"libexec/"?[A-Za-z0-9_./-]*"?"#).unwrap();
    let mut wrong = vec![];
    let mut seen = 0;
    for file in [
        "install.sh",
        "scripts/dist.sh",
        "scripts/demo.sh",
        "scripts/bench-connect.sh",
        "scripts/time-to-clone.sh",
        "Cargo.toml",
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        for m in word.find_iter(&text) {
            seen += 1;
            // Homebrew's formula writes `libexec/"certsh"`.
            let path = m.as_str().replace('"', "");
            let path = path.trim_end_matches(['.', '/']);
            if ![Layout::SHIM, Layout::SHIM_WINDOWS, folder].contains(&path) {
                wrong.push(format!("{file}: {path}"));
            }
        }
    }
    assert!(seen > 10, "the scripts name the shim: {seen}");
    assert!(
        wrong.is_empty(),
        "paths that are not Layout's:\n{}",
        wrong.join("\n")
    );
}
