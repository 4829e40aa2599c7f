//! The CI recipes in docs/ci.md, run as written: each recipe's YAML (or
//! Jenkinsfile) is read from the document, its shell part is taken from where
//! the CI system would take it, and run with `sh -e` in a clean environment
//! (only the token variable, a fresh empty HOME, no config file, no
//! terminal) against the test sshd. Issue #4.

mod support;

use std::path::PathBuf;
use std::process::Stdio;

use serde_norway::Value;
use support::*;

/// The example URL the recipes clone; the test's own replaces it.
const EXAMPLE_URL: &str = "abcdef7uyxabce@git.us-3.magento.cloud:abcdef7uyxabce.git";

/// The section of docs/ci.md under `## {title}`, and its first code block.
fn recipe(title: &str) -> (String, String) {
    let doc = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/ci.md"))
        .unwrap();
    let start = doc
        .find(&format!("\n## {title}\n"))
        .unwrap_or_else(|| panic!("no section {title}"));
    let section = &doc[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let fence = section.find("\n```").expect("a code block") + 4;
    let body_start = section[fence..].find('\n').unwrap() + fence + 1;
    let body_end = section[body_start..].find("\n```").unwrap() + body_start;
    (
        section.to_string(),
        section[body_start..=body_end].to_string(),
    )
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

/// The shell part: what the CI runs after certsh is installed (the install
/// lines, which need certsh's source, are left out).
fn shell_part(lines: Vec<String>) -> String {
    let kept: Vec<String> = lines
        .into_iter()
        .filter(|l| !l.contains("CERTSH_SOURCE"))
        .collect();
    assert!(
        kept.iter().any(|l| l.trim() == "eval \"$(certsh env)\""),
        "{kept:?}"
    );
    kept.join("\n")
}

fn github() -> String {
    let (section, block) = recipe("GitHub Actions");
    assert!(section.contains("MAGENTO_CLOUD_CLI_TOKEN"));
    let v = yaml(&block);
    let job = &v["jobs"]["clone"];
    assert_eq!(
        job["env"]["MAGENTO_CLOUD_CLI_TOKEN"].as_str(),
        Some("${{ secrets.MAGENTO_CLOUD_CLI_TOKEN }}")
    );
    let steps = job["steps"].as_sequence().unwrap();
    let run = steps
        .iter()
        .find(|s| s["name"].as_str() == Some("Clone the project"))
        .unwrap()["run"]
        .as_str()
        .unwrap();
    shell_part(run.lines().map(String::from).collect())
}

fn gitlab() -> String {
    let (section, block) = recipe("GitLab CI");
    assert!(section.contains("`MAGENTO_CLOUD_CLI_TOKEN`, masked"));
    let v = yaml(&block);
    let mut lines = lines_of(&v["clone"]["before_script"]);
    lines.extend(lines_of(&v["clone"]["script"]));
    shell_part(lines)
}

fn bitbucket() -> String {
    let (section, block) = recipe("Bitbucket Pipelines");
    assert!(section.contains("`MAGENTO_CLOUD_CLI_TOKEN`, Secured"));
    let v = yaml(&block);
    shell_part(lines_of(&v["pipelines"]["default"][0]["step"]["script"]))
}

fn jenkins() -> String {
    let (_, block) = recipe("Jenkins");
    assert!(block.contains("variable: 'MAGENTO_CLOUD_CLI_TOKEN'"));
    let start = block.find("sh '''\n").expect("a sh ''' block") + 7;
    let end = block[start..].find("'''").unwrap() + start;
    shell_part(block[start..end].lines().map(String::from).collect())
}

#[test]
fn every_ci_recipe_clones_in_a_clean_environment() {
    let mut env = TestEnv::with_sshd();
    env.real_ssh_with_test_config();
    let prefix = env.installed();
    // The install step's result: certsh on PATH.
    env.set(
        "PATH",
        format!(
            "{}:/usr/local/bin:/usr/bin:/bin",
            prefix.join("bin").display()
        ),
    );
    for (name, script) in [
        ("github", github()),
        ("gitlab", gitlab()),
        ("bitbucket", bitbucket()),
        ("jenkins", jenkins()),
    ] {
        let home = env.path(&format!("home-{name}"));
        std::fs::create_dir(&home).unwrap();
        env.set("HOME", &home);
        let script = script.replace(EXAMPLE_URL, &env.git_url());
        let signed = env.certifier.sign_requests();
        let out = env
            .std_command("sh")
            .args(["-e", "-c", &script])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let p = Printed::from(out);
        assert_eq!(p.code, Some(0), "{name}:\n{script}\n{}", p.stderr);
        assert_no_secrets(&env, &p.stdout);
        assert_no_secrets(&env, &p.stderr);
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
