//! The CI recipes in docs/ci.md, run as written: each recipe's YAML (or
//! Jenkinsfile) is read from the document, its shell part is taken from where
//! the CI system would take it, and run with `sh -e` in a clean environment
//! (only the token variable, a fresh empty HOME, PATH without certsh or
//! cargo, no config file, no terminal). The install line downloads the
//! release made by `scripts/dist.sh` from a loopback server; the clone goes
//! through the test sshd. Issues #4 and #8.
// Tier all (scripts/test --all): builds the release with scripts/dist.sh,
// which needs the cross tools that tier checks for.
#![cfg(feature = "test-all")]

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_norway::Value;
use support::release::Release;
use support::*;

/// The example URL the recipes clone; the test's own replaces it.
const EXAMPLE_URL: &str = "abcdef7uyxabce@git.us-3.magento.cloud:abcdef7uyxabce.git";

/// Where the recipes download the release from; the loopback server's URL
/// replaces it.
const RELEASE_URL: &str = "https://github.com/certsh/certsh/releases/latest/download";

/// The one line that installs certsh, in every recipe.
fn install_line() -> String {
    format!("curl -fsSL {RELEASE_URL}/install.sh | sh")
}

/// The section of docs/ci.md under `## {title}`, and its code blocks.
fn recipe(title: &str) -> (String, Vec<String>) {
    let doc = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/ci.md"))
        .unwrap();
    let start = doc
        .find(&format!("\n## {title}\n"))
        .unwrap_or_else(|| panic!("no section {title}"));
    let section = &doc[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let mut blocks = vec![];
    let mut rest = section;
    while let Some(fence) = rest.find("\n```") {
        let body_start = rest[fence + 4..].find('\n').unwrap() + fence + 5;
        let body_end = rest[body_start..].find("\n```").unwrap() + body_start;
        blocks.push(rest[body_start..=body_end].to_string());
        rest = &rest[body_end + 4..];
    }
    assert!(!blocks.is_empty(), "{title}: no code block");
    (section.to_string(), blocks)
}

fn yaml(text: &str) -> Value {
    serde_norway::from_str(text).unwrap_or_else(|e| panic!("invalid YAML: {e}\n{text}"))
}

fn lines_of(list: &Value) -> Vec<String> {
    list.as_sequence()
        .expect("a script list")
        .iter()
        .map(|v| v.as_str().expect("a script line").to_string())
        .collect()
}

/// A recipe's shell steps, each run by a new shell as the CI system does;
/// the image set-up (`apt-get`, which needs root and the network) left out.
struct Recipe {
    name: &'static str,
    steps: Vec<String>,
}

fn recipe_steps(name: &'static str, steps: Vec<Vec<String>>) -> Recipe {
    let steps: Vec<String> = steps
        .into_iter()
        .map(|lines| {
            lines
                .into_iter()
                .filter(|l| !l.trim_start().starts_with("apt-get "))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    let all: Vec<&str> = steps.iter().flat_map(|s| s.lines()).collect();
    assert!(
        all.iter().any(|l| l.trim() == install_line()),
        "{name}: no `{}` line in {all:?}",
        install_line()
    );
    assert!(
        all.iter().any(|l| l.trim() == "eval \"$(certsh env)\""),
        "{name}: {all:?}"
    );
    Recipe { name, steps }
}

fn github() -> Recipe {
    let (section, blocks) = recipe("GitHub Actions");
    assert!(section.contains("MAGENTO_CLOUD_CLI_TOKEN"));
    // The first block uses the action (tests/it/action.rs); this is the second.
    let v = yaml(&blocks[1]);
    let job = &v["jobs"]["clone"];
    assert_eq!(
        job["env"]["MAGENTO_CLOUD_CLI_TOKEN"].as_str(),
        Some("${{ secrets.MAGENTO_CLOUD_CLI_TOKEN }}")
    );
    let steps = job["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|s| {
            let run = s["run"].as_str().expect("a run step");
            assert!(!run.contains("${{"), "no expressions in run: {run}");
            run.lines().map(String::from).collect()
        })
        .collect();
    recipe_steps("github", steps)
}

fn gitlab() -> Recipe {
    let (section, blocks) = recipe("GitLab CI");
    assert!(section.contains("`MAGENTO_CLOUD_CLI_TOKEN`, masked"));
    let v = yaml(&blocks[0]);
    // GitLab runs before_script and script in one shell.
    let mut lines = lines_of(&v["clone"]["before_script"]);
    lines.extend(lines_of(&v["clone"]["script"]));
    recipe_steps("gitlab", vec![lines])
}

fn bitbucket() -> Recipe {
    let (section, blocks) = recipe("Bitbucket Pipelines");
    assert!(section.contains("`MAGENTO_CLOUD_CLI_TOKEN`, Secured"));
    let v = yaml(&blocks[0]);
    recipe_steps(
        "bitbucket",
        vec![lines_of(&v["pipelines"]["default"][0]["step"]["script"])],
    )
}

fn jenkins() -> Recipe {
    let (_, blocks) = recipe("Jenkins");
    let block = &blocks[0];
    assert!(block.contains("variable: 'MAGENTO_CLOUD_CLI_TOKEN'"));
    // Each `sh` step is a shell of its own: `sh '...'`, then `sh '''...'''`.
    let mut steps = vec![];
    for line in block.lines() {
        let line = line.trim();
        if line.starts_with("sh '''") {
            continue;
        }
        if let Some(one) = line.strip_prefix("sh '").and_then(|l| l.strip_suffix('\'')) {
            steps.push(vec![one.to_string()]);
        }
    }
    let start = block.find("sh '''\n").expect("a sh ''' block") + 7;
    let end = block[start..].find("'''").unwrap() + start;
    steps.push(block[start..end].lines().map(String::from).collect());
    recipe_steps("jenkins", steps)
}

/// The lines a step appended to `$GITHUB_PATH`, put in front of `path` the
/// way the runner does for later steps (the last line added comes first).
fn apply_github_path(file: &Path, path: &str) -> String {
    let added = std::fs::read_to_string(file).unwrap_or_default();
    let mut parts: Vec<&str> = added.lines().filter(|l| !l.is_empty()).collect();
    parts.reverse();
    parts.push(path);
    parts.join(":")
}

#[test]
fn every_ci_recipe_installs_the_release_and_clones_in_a_clean_environment() {
    let release = Release::build();
    let mut env = TestEnv::with_sshd();
    env.real_ssh_with_test_config();
    // The installer's own downloads go to the loopback server too.
    env.set("CERTSH_DOWNLOAD_URL", release.url());
    for recipe in [github(), gitlab(), bitbucket(), jenkins()] {
        let name = recipe.name;
        let home = env.path(&format!("home-{name}"));
        std::fs::create_dir(&home).unwrap();
        env.set("HOME", &home);
        // Neither certsh nor cargo on PATH.
        let mut path = "/usr/local/bin:/usr/bin:/bin".to_string();
        let github_path = env.path(&format!("github-path-{name}"));
        let archive = format!("/{}", support::release::archive());
        let downloads = release.server.requests(&archive);
        let signed = env.certifier.sign_requests();
        for step in &recipe.steps {
            let script = step
                .replace(EXAMPLE_URL, &env.git_url())
                .replace(RELEASE_URL, &release.url());
            let out = env
                .std_command("sh")
                .args(["-e", "-c", &script])
                .env("PATH", &path)
                .env("GITHUB_PATH", &github_path)
                .stdin(Stdio::null())
                .output()
                .unwrap();
            let p = Printed::from(out);
            assert_eq!(
                p.code,
                Some(0),
                "{name}:\n{script}\n{}{}",
                p.stdout,
                p.stderr
            );
            assert_no_secrets(&env, &p.stdout);
            assert_no_secrets(&env, &p.stderr);
            path = apply_github_path(&github_path, &path);
        }
        assert_eq!(
            release.server.requests(&archive),
            downloads + 1,
            "{name}: the archive was downloaded once"
        );
        let installed = home.join(".local/bin/certsh");
        let version = env
            .std_command(&installed)
            .arg("--version")
            .output()
            .unwrap();
        let version = String::from_utf8_lossy(&version.stdout).into_owned();
        assert!(
            version.contains(support::release::TARGET),
            "{name}: the release binary is installed: {version}"
        );
        assert!(
            env.path("work/project/README").exists(),
            "{name}: the clone is there"
        );
        assert_eq!(env.certifier.sign_requests(), signed + 1, "{name}");
        assert!(
            !home.join(".magento-cloud/config.yaml").exists(),
            "{name}: no config file needed or written"
        );
        std::fs::remove_dir_all(env.path("work/project")).unwrap();
    }
}
