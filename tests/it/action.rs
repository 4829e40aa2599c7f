//! The GitHub Action (action.yml), run the way the runner runs a composite
//! action: each `run:` step as written, by `bash --noprofile --norc -eo
//! pipefail`, with the step's `env:` (where `${{ inputs.* }}` becomes the
//! input's value, the only expression the action may use) and the runner's
//! variables: `GITHUB_ACTION_PATH`, `RUNNER_TOOL_CACHE`, and fresh
//! `GITHUB_ENV`/`GITHUB_PATH` files, which are then applied to the later
//! steps as the runner applies them. The release it installs is made by
//! `scripts/dist.sh` and served on loopback (`CERTSH_DOWNLOAD_URL`); PATH has
//! no cargo. The workflow of docs/ci.md then clones through the test sshd
//! with only the token set.
//!
//! `GITHUB_ACTION_PATH` is a folder holding the repository's action.yml and
//! install.sh, byte for byte, and a `release/allowed_signers` naming the
//! test's release key: the action's checkout at a ref whose signers file
//! names the key that signed the release.
// Tier all (scripts/test --all): builds the release with scripts/dist.sh,
// which needs the cross tools that tier checks for.
#![cfg(feature = "test-all")]

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_norway::Value;
use support::release::{Release, TARGET, VERSION};
use support::*;

/// The example URL the docs clone; the test's own replaces it.
const EXAMPLE_URL: &str = "abcdef7uyxabce@git.us-3.magento.cloud:abcdef7uyxabce.git";

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn yaml(text: &str) -> Value {
    serde_norway::from_str(text).unwrap_or_else(|e| panic!("invalid YAML: {e}\n{text}"))
}

/// The tool cache's name for this machine's architecture.
fn arch() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "x64"
    }
}

/// The action's checkout, as the runner makes it, with `signers` as its
/// `release/allowed_signers`.
fn action_path(env: &TestEnv, signers: &Path) -> PathBuf {
    let dir = env.path("action");
    std::fs::create_dir_all(dir.join("release")).unwrap();
    for f in ["action.yml", "install.sh"] {
        std::fs::copy(repo_file(f), dir.join(f)).unwrap();
    }
    std::fs::copy(signers, dir.join("release/allowed_signers")).unwrap();
    dir
}

/// What a run of the action left.
struct Outcome {
    /// The failing step's output, or the last step's.
    printed: Printed,
    github_env: String,
    github_path: String,
}

/// A step's `env:` value as the runner evaluates it: `${{ inputs.NAME }}`
/// becomes the input (given, else its default); anything else with `${{`
/// is an expression this test does not evaluate, and fails it.
fn evaluate(value: &str, inputs: &BTreeMap<String, String>) -> String {
    if !value.contains("${{") {
        return value.to_string();
    }
    let name = value
        .trim()
        .strip_prefix("${{")
        .and_then(|v| v.strip_suffix("}}"))
        .map(str::trim)
        .and_then(|v| v.strip_prefix("inputs."))
        .unwrap_or_else(|| panic!("unsupported expression in action.yml: {value}"));
    inputs
        .get(name)
        .unwrap_or_else(|| panic!("action.yml uses an undeclared input: {name}"))
        .clone()
}

/// Runs action.yml's steps as the runner would, with the inputs `with`.
fn run_action(env: &TestEnv, action: &Path, with: &[(&str, &str)]) -> Outcome {
    let spec = yaml(&std::fs::read_to_string(action.join("action.yml")).unwrap());
    assert_eq!(spec["runs"]["using"].as_str(), Some("composite"));
    let mut inputs = BTreeMap::new();
    for (name, input) in spec["inputs"].as_mapping().expect("inputs") {
        let name = name.as_str().unwrap().to_string();
        if let Some(default) = input["default"].as_str() {
            inputs.insert(name, default.to_string());
        }
    }
    for (name, value) in with {
        assert!(inputs.contains_key(*name), "no input {name} in action.yml");
        inputs.insert(name.to_string(), value.to_string());
    }
    let github_env = env.path("github-env");
    let github_path = env.path("github-path");
    std::fs::write(&github_env, "").unwrap();
    std::fs::write(&github_path, "").unwrap();
    let mut printed = None;
    for (i, step) in spec["runs"]["steps"]
        .as_sequence()
        .expect("steps")
        .iter()
        .enumerate()
    {
        let run = step["run"].as_str().expect("a run step");
        assert_eq!(step["shell"].as_str(), Some("bash"), "step {i}");
        assert!(
            step["if"].is_null(),
            "step {i}: `if:` is not evaluated here"
        );
        // Script injection: an input pasted into the script would run as code.
        assert!(
            !run.contains("${{"),
            "step {i} has an expression in its script; pass it through env:"
        );
        let script = env.path(&format!("action-step-{i}.sh"));
        std::fs::write(&script, run).unwrap();
        let mut cmd = env.std_command("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script)
            .env("PATH", "/usr/bin:/bin")
            .env("CI", "true")
            .env("GITHUB_ACTIONS", "true")
            .env(
                "RUNNER_OS",
                if cfg!(target_os = "macos") {
                    "macOS"
                } else {
                    "Linux"
                },
            )
            .env("GITHUB_ACTION_PATH", action)
            .env("RUNNER_TOOL_CACHE", env.path("tool-cache"))
            .env("GITHUB_ENV", &github_env)
            .env("GITHUB_PATH", &github_path)
            .stdin(Stdio::null());
        if let Some(vars) = step["env"].as_mapping() {
            for (k, v) in vars {
                cmd.env(k.as_str().unwrap(), evaluate(v.as_str().unwrap(), &inputs));
            }
        }
        let p = Printed::from(cmd.output().unwrap());
        assert_no_secrets(env, &p.stdout);
        assert_no_secrets(env, &p.stderr);
        let failed = p.code != Some(0);
        printed = Some(p);
        if failed {
            break;
        }
    }
    Outcome {
        printed: printed.expect("action.yml has steps"),
        github_env: std::fs::read_to_string(&github_env).unwrap(),
        github_path: std::fs::read_to_string(&github_path).unwrap(),
    }
}

/// `NAME=value` lines of `GITHUB_ENV`, as the runner reads them.
fn env_lines(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            assert!(
                !l.contains("<<"),
                "multi-line values are not read here: {l}"
            );
            let (k, v) = l.split_once('=').expect("NAME=value");
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// The workflow of docs/ci.md that uses the action: the `with:` of its
/// `uses:` step and the script of the step after it.
fn documented_workflow() -> (Vec<(String, String)>, String) {
    let doc = std::fs::read_to_string(repo_file("docs/ci.md")).unwrap();
    let section = &doc[doc.find("\n## GitHub Actions\n").expect("a GitHub section")..];
    let start = section.find("```yaml\n").expect("a yaml block") + 8;
    let end = section[start..].find("\n```").unwrap() + start;
    let v = yaml(&section[start..=end]);
    let job = &v["jobs"]["clone"];
    assert_eq!(
        job["env"]["MAGENTO_CLOUD_CLI_TOKEN"].as_str(),
        Some("${{ secrets.MAGENTO_CLOUD_CLI_TOKEN }}"),
        "the token comes from the job's env"
    );
    let steps = job["steps"].as_sequence().unwrap();
    assert_eq!(steps[0]["uses"].as_str(), Some("certsh/certsh@v1"));
    let with = steps[0]["with"]
        .as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.as_str().unwrap().into(), v.as_str().unwrap().into()))
                .collect()
        })
        .unwrap_or_default();
    let run = steps[1]["run"].as_str().expect("a run step").to_string();
    (with, run)
}

#[test]
fn the_action_installs_the_release_and_the_documented_workflow_clones_with_only_the_token() {
    let release = Release::build();
    let mut env = TestEnv::with_sshd();
    env.real_ssh_with_test_config();
    env.set("CERTSH_DOWNLOAD_URL", release.url());
    let action = action_path(&env, &release.allowed_signers());
    let (with, clone_step) = documented_workflow();
    let with: Vec<(&str, &str)> = with.iter().map(|(k, v)| (&**k, &**v)).collect();

    let out = run_action(&env, &action, &with);
    assert_eq!(
        out.printed.code,
        Some(0),
        "{}{}",
        out.printed.stdout,
        out.printed.stderr
    );
    let prefix = env.path(&format!("tool-cache/certsh/latest/{}", arch()));
    assert_eq!(out.github_path, format!("{}/bin\n", prefix.display()));
    assert_eq!(
        env_lines(&out.github_env),
        [
            ("CERTSH_PROFILE".to_string(), "magento".to_string()),
            (
                "GIT_SSH_COMMAND".to_string(),
                format!("{}/libexec/certsh/ssh", prefix.display())
            ),
        ]
    );
    // The release binary, its signature checked.
    assert!(
        out.printed.stdout.contains(TARGET),
        "{}",
        out.printed.stdout
    );
    assert_eq!(release.server.requests("/SHA256SUMS.sig"), 1);
    // The shim is the archive's own program, not a link to certsh.
    let shim = std::fs::symlink_metadata(prefix.join("libexec/certsh/ssh")).unwrap();
    assert!(shim.is_file(), "{shim:?}");

    // The next step, with what the action exported.
    let mut cmd = env.std_command("bash");
    cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c"])
        .arg(clone_step.replace(EXAMPLE_URL, &env.git_url()))
        .env("PATH", format!("{}/bin:/usr/bin:/bin", prefix.display()))
        .stdin(Stdio::null());
    for (k, v) in env_lines(&out.github_env) {
        cmd.env(k, v);
    }
    let signed = env.certifier.sign_requests();
    let p = Printed::from(cmd.output().unwrap());
    assert_eq!(p.code, Some(0), "{}{}", p.stdout, p.stderr);
    assert_no_secrets(&env, &p.stdout);
    assert_no_secrets(&env, &p.stderr);
    assert!(
        env.path("work/project/README").exists(),
        "the clone is there"
    );
    assert_eq!(env.certifier.sign_requests(), signed + 1);
    assert!(!env.home().join(".magento-cloud/config.yaml").exists());
}

#[test]
fn the_action_installs_a_pinned_version_for_another_profile() {
    let release = Release::build();
    let mut env = TestEnv::new();
    env.set("CERTSH_DOWNLOAD_URL", release.url());
    let action = action_path(&env, &release.allowed_signers());
    let version = format!("v{VERSION}");
    let out = run_action(
        &env,
        &action,
        &[("version", &version), ("profile", "Platform.sh")],
    );
    assert_eq!(
        out.printed.code,
        Some(0),
        "{}{}",
        out.printed.stdout,
        out.printed.stderr
    );
    let prefix = env.path(&format!("tool-cache/certsh/{VERSION}/{}", arch()));
    assert_eq!(out.github_path, format!("{}/bin\n", prefix.display()));
    assert_eq!(
        env_lines(&out.github_env),
        [
            ("CERTSH_PROFILE".to_string(), "platformsh".to_string()),
            (
                "GIT_SSH_COMMAND".to_string(),
                format!("{}/libexec/certsh/ssh", prefix.display())
            ),
        ]
    );
}

#[test]
fn the_action_refuses_a_release_its_signers_did_not_sign() {
    let release = Release::build();
    let mut env = TestEnv::new();
    env.set("CERTSH_DOWNLOAD_URL", release.url());
    // The action's signers name another key than the release's.
    let signers = env.path("stranger_signers");
    support::release::signing_key(&env.path("stranger"), &signers);
    let action = action_path(&env, &signers);
    let out = run_action(&env, &action, &[]);
    assert_eq!(out.printed.code, Some(1), "{}", out.printed.stdout);
    // The refusal, whole: which file failed its check, and what to do.
    assert_output(
        &env,
        &out.printed.stderr,
        snapbox::file!["cases/action_release_not_signed_by_its_signers.stderr"],
    );
    assert_eq!(out.github_env, "");
    assert_eq!(out.github_path, "");
    assert!(
        files_below(&env.path("tool-cache"))
            .iter()
            .all(|f| !f.ends_with("bin/certsh")),
        "nothing installed"
    );
}

#[test]
fn action_inputs_are_never_run_as_code() {
    let release = Release::build();
    let mut env = TestEnv::new();
    env.set("CERTSH_DOWNLOAD_URL", release.url());
    let action = action_path(&env, &release.allowed_signers());
    let pwned = env.path("pwned");

    let version = format!("1.0$(touch {})", pwned.display());
    let out = run_action(&env, &action, &[("version", &version)]);
    assert_eq!(out.printed.code, Some(1));
    assert_eq!(
        out.printed.stderr,
        format!(
            "certsh: version '{version}' is not a release version (give one such as 0.1.0, or latest)\n"
        )
    );
    assert_eq!(release.server.total_requests(), 0, "nothing downloaded");

    // A line break would add a line to GITHUB_ENV if the profile were
    // copied there unchecked.
    let profile = format!("magento\nGIT_SSH_COMMAND=touch {}", pwned.display());
    let out = run_action(&env, &action, &[("profile", &profile)]);
    assert_eq!(out.printed.code, Some(1), "{}", out.printed.stderr);
    assert!(
        out.printed.stderr.starts_with("certsh: "),
        "{}",
        out.printed.stderr
    );
    assert_eq!(out.github_env, "");
    assert_eq!(out.github_path, "");
    assert!(!pwned.exists());
}

#[test]
fn the_action_scripts_pass_shellcheck() {
    let spec = yaml(&std::fs::read_to_string(repo_file("action.yml")).unwrap());
    for (i, step) in spec["runs"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .enumerate()
    {
        let run = step["run"].as_str().expect("a run step");
        let out = std::process::Command::new("shellcheck")
            .args(["--shell=bash", "--severity=style", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(run.as_bytes())?;
                child.wait_with_output()
            })
            .expect("shellcheck runs (.ci/run installs it)");
        assert!(
            out.status.success(),
            "step {i}:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
