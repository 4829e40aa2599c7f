//! Logins whose browser is on another machine: paste mode, its
//! choice by itself over ssh and with no display, the shim's terminal login
//! in paste mode, and the opener of Windows' browser in WSL.
//!
//! The terminal is a pseudo-terminal from util-linux `script`, whose
//! keyboard is a shell script (the typist) that watches the terminal's
//! transcript. The browser on the other machine is curl: it opens the
//! authorize URL shown on the terminal and stops at the redirect to
//! 127.0.0.1, which would not load there; the typist pastes that address.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use support::*;

/// A world without an API token, without `$BROWSER`, a display or ssh.
fn world(with_sshd: bool) -> TestEnv {
    let mut env = if with_sshd {
        TestEnv::with_sshd()
    } else {
        TestEnv::new()
    };
    env.unset("MAGENTO_CLOUD_CLI_TOKEN");
    env.set("CERTSH_LOGIN_TIMEOUT", "60");
    env
}

/// Shell functions for the typist. `$T` is the transcript, `$TYPED` the
/// file where every typed line is also kept.
const TYPIST: &str = r#"
prompts() { n=$(grep -c 'Paste the address the browser ended on' "$T" 2>/dev/null); echo "${n:-0}"; }
wait_prompt() { until [ "$(prompts)" -ge "$1" ]; do sleep 0.05; done; }
wait_text() { until grep -q "$1" "$T" 2>/dev/null; do sleep 0.05; done; }
authorize() { grep -ao 'http://127\.0\.0\.1:[0-9]*/oauth2/authorize?[^[:space:]]*' "$T" | tail -n 1; }
ended_on() { curl -sS -o /dev/null -w '%{redirect_url}' "$(authorize)"; }
type_line() { printf '%s\n' "$1" >> "$TYPED"; printf '%s\n' "$1"; }
"#;

/// `cmd` at a pseudo-terminal whose keyboard is `typist`.
fn at_terminal(env: &TestEnv, cmd: &str, typist: &str) -> Printed {
    let transcript = env.path("transcript");
    let mut c = env.command_plain("sh");
    c.arg("-c")
        .arg(format!(
            "({TYPIST}\n{typist}\n) | script -qefc \"$CMD\" \"$T\""
        ))
        .env("CMD", cmd)
        .env("T", &transcript)
        .env("TYPED", env.path("typed"));
    c.timeout(Duration::from_secs(120));
    run(c)
}

/// `certsh <args>` as a shell command line.
fn certsh_line(args: &str) -> String {
    format!("'{}' {args}", certsh_bin().display())
}

/// The lines the typist typed.
fn typed(env: &TestEnv) -> Vec<String> {
    std::fs::read_to_string(env.path("typed"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// The `code` of a typed address, or the typed line itself.
fn code_of(line: &str) -> String {
    match line.split_once("code=") {
        Some((_, rest)) => rest.split('&').next().unwrap().to_string(),
        None => line.to_string(),
    }
}

/// The authorization-code exchanges the certifier got.
fn exchanges(env: &TestEnv) -> usize {
    env.certifier
        .requests()
        .iter()
        .filter(|r| r.body.contains("grant_type=authorization_code"))
        .count()
}

/// Logged in, and the terminal showed `case`, in full.
#[track_caller]
fn assert_logged_in(env: &TestEnv, p: &Printed, case: impl snapbox::IntoData) {
    assert_eq!(p.code, Some(0), "{}\n{}", p.stdout, p.stderr);
    assert!(
        env.state_dir().join("session.json").exists(),
        "{}",
        p.stdout
    );
    assert_output(env, &shown(&p.stdout), case);
}

/// What a terminal showed, as text: lines end in `\n` (not the terminal's
/// `\r\n`), the authorize URL, whose state and challenge differ from run to
/// run, is `[AUTHORIZE URL]`, and the forward line's ports (both the
/// login's own port, which `[PORT]` stands for only after `127.0.0.1:`)
/// read `[PORT]`.
fn shown(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let port = redirect_port(&text);
    let text = text.replace(
        &format!("ssh -L {port}:127.0.0.1:{port} "),
        "ssh -L [PORT]:127.0.0.1:[PORT] ",
    );
    let url = regex::Regex::new(r"http://127\.0\.0\.1:[0-9]+/oauth2/authorize\?[^\s]*").unwrap();
    url.replace_all(&text, "[AUTHORIZE URL]").into_owned()
}

/// Neither a typed code nor a token is on the terminal.
#[track_caller]
fn assert_no_codes(env: &TestEnv, text: &str) {
    assert_no_secrets(env, text);
    for line in typed(env) {
        let code = code_of(&line);
        assert!(code.len() >= 16, "{line}");
        assert!(!text.contains(&code), "a code was shown:\n{text}");
    }
}

/// The port of the login's redirect_uri, from the printed URL.
fn redirect_port(text: &str) -> u16 {
    let at = text
        .find("redirect_uri=http%3A%2F%2F127.0.0.1%3A")
        .expect("a printed authorize URL")
        + "redirect_uri=http%3A%2F%2F127.0.0.1%3A".len();
    text[at..at + 4].parse().unwrap()
}

/// `certsh login` at a terminal, the address the browser ended on typed at
/// the prompt: logged in, the terminal shows `case`, no code shown.
#[track_caller]
fn logs_in_by_pasting_after(env: &TestEnv, case: impl snapbox::IntoData) {
    let p = at_terminal(
        env,
        &certsh_line("login"),
        "wait_prompt 1; type_line \"$(ended_on)\"",
    );
    assert_logged_in(env, &p, case);
    assert_no_codes(env, &p.stdout);
}

#[test]
fn paste_mode_logs_in_with_the_address_the_browser_ended_on() {
    let env = world(false);
    let p = at_terminal(
        &env,
        &certsh_line("login --paste"),
        "wait_prompt 1; type_line \"$(ended_on)\"",
    );
    // Asked for: no reason given.
    assert_logged_in(&env, &p, snapbox::file!["cases/login_paste.stdout"]);
    let typed = typed(&env);
    assert_eq!(typed.len(), 1);
    let port = redirect_port(&p.stdout);
    assert!(
        typed[0].starts_with(&format!("http://127.0.0.1:{port}/?code="))
            && typed[0].contains("&state="),
        "the browser ended on the loopback address: {typed:?}"
    );
    assert_eq!(env.certifier.authorize_requests(), 1);
    assert_eq!(exchanges(&env), 1);
    assert_no_codes(&env, &p.stdout);
}

#[test]
fn an_address_of_another_login_is_refused_and_the_login_goes_on() {
    let env = world(false);
    let p = at_terminal(
        &env,
        &certsh_line("login --paste"),
        "wait_prompt 1; back=$(ended_on)\n\
         type_line \"$(printf '%s' \"$back\" | sed 's/state=[^&]*/state=Zm9yZ2VkLXN0YXRlLXh4/')\"\n\
         wait_prompt 2; type_line \"$back\"",
    );
    assert_logged_in(
        &env,
        &p,
        snapbox::file!["cases/login_paste_address_of_another_login.stdout"],
    );
    assert_eq!(typed(&env).len(), 2);
    assert_eq!(exchanges(&env), 1, "the refused address was not exchanged");
    assert_no_codes(&env, &p.stdout);
}

#[test]
fn a_reused_address_or_code_is_refused_and_a_bare_code_is_accepted() {
    let env = world(false);
    let first = at_terminal(
        &env,
        &certsh_line("login --paste"),
        "wait_prompt 1; type_line \"$(ended_on)\"",
    );
    assert_logged_in(&env, &first, snapbox::file!["cases/login_paste.stdout"]);
    let old = typed(&env)[0].clone();
    std::fs::remove_file(env.path("transcript")).unwrap();
    // The first login's address (used code, that login's state), then its
    // bare code, then the new login's bare code.
    let p = at_terminal(
        &env,
        &certsh_line("login --paste"),
        &format!(
            "wait_prompt 1; type_line '{old}'\n\
             wait_prompt 2; type_line '{}'\n\
             wait_prompt 3; back=$(ended_on); code=${{back#*code=}}; type_line \"${{code%%&*}}\"",
            code_of(&old)
        ),
    );
    assert_logged_in(
        &env,
        &p,
        snapbox::file!["cases/login_paste_reused_address_and_code.stdout"],
    );
    assert_eq!(
        exchanges(&env),
        3,
        "one, then the reused code and the new one"
    );
    assert_no_codes(&env, &format!("{}{}", first.stdout, p.stdout));
}

#[test]
fn an_address_without_state_is_taken_like_a_bare_code() {
    let env = world(false);
    let p = at_terminal(
        &env,
        &certsh_line("login --paste"),
        "wait_prompt 1; back=$(ended_on); type_line \"${back%%&state=*}\"",
    );
    assert_logged_in(&env, &p, snapbox::file!["cases/login_paste.stdout"]);
    let typed = typed(&env);
    assert!(!typed[0].contains("state="), "{typed:?}");
    assert_eq!(exchanges(&env), 1);
    assert_no_codes(&env, &p.stdout);
}

#[test]
fn a_paste_login_nobody_completes_times_out_with_a_clear_line() {
    let mut env = world(false);
    env.set("CERTSH_LOGIN_TIMEOUT", "2");
    let p = at_terminal(&env, &certsh_line("login --paste"), "wait_prompt 1");
    assert_eq!(p.code, Some(1), "{}", p.stdout);
    assert_output(
        &env,
        &shown(&p.stdout),
        snapbox::file!["cases/login_paste_timeout.stdout"],
    );
    assert!(!env.state_dir().join("session.json").exists());
    assert_eq!(env.certifier.token_requests(), 0);
}

#[test]
fn paste_without_a_terminal_is_refused() {
    let env = world(false);
    let p = fails(env.certsh(["login", "--paste"]), 1);
    assert_eq!(
        p.stderr,
        "certsh: certsh login --paste needs a terminal to paste the address into \
         (run it in a terminal, or without --paste)\n"
    );
    assert_eq!(env.certifier.authorize_requests(), 0);
}

/// A `$BROWSER` that records that it was started.
fn recording_browser(env: &TestEnv) -> PathBuf {
    let path = env.path("bin/browser");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\necho \"$1\" >> '{}'\n",
            env.path("browser.log").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn over_ssh_login_says_paste_mode_prints_the_forward_line_and_the_listener_still_answers() {
    let mut env = world(false);
    env.set("SSH_CONNECTION", "192.0.2.7 51000 127.0.0.1 2222");
    env.set("USER", "dev");
    let browser = recording_browser(&env);
    env.set("BROWSER", browser);
    // The laptop's browser, through the forwarded port: it follows the
    // redirect to the listener, and nothing is pasted.
    let p = at_terminal(
        &env,
        &certsh_line("login"),
        "wait_prompt 1; curl -sS -o /dev/null -L \"$(authorize)\"; wait_text 'certificate for'",
    );
    assert_logged_in(&env, &p, snapbox::file!["cases/login_over_ssh.stdout"]);
    assert!(
        !env.path("browser.log").exists(),
        "no browser is started over ssh"
    );
    assert!(typed(&env).is_empty());
}

#[test]
fn with_no_display_and_no_browser_login_says_paste_mode() {
    let env = world(false);
    logs_in_by_pasting_after(&env, snapbox::file!["cases/login_paste_no_display.stdout"]);
}

#[test]
fn over_ssh_the_shim_logs_in_at_the_terminal_in_paste_mode_and_the_clone_goes_on() {
    let mut env = world(true);
    env.set("SSH_CONNECTION", "192.0.2.7 51000 127.0.0.1 22");
    let cmd = format!(
        "GIT_SSH_COMMAND='{}' git clone -q '{}' clone </dev/null",
        env.git_ssh(),
        env.git_url()
    );
    let p = at_terminal(&env, &cmd, "wait_prompt 1; type_line \"$(ended_on)\"");
    assert_eq!(p.code, Some(0), "{}", p.stdout);
    assert!(env.path("work/clone/README").exists(), "{}", p.stdout);
    assert_output(
        &env,
        &shown(&p.stdout),
        snapbox::file!["cases/login_paste_by_the_shim_over_ssh.stdout"],
    );
    assert_eq!(env.certifier.sign_requests(), 1);
    assert_no_codes(&env, &p.stdout);
}

/// A fake Windows opener in the world's `bin`, first on PATH: it records
/// its arguments, then does `body` (`$url` is its last argument with cmd's
/// `^` escapes taken out).
fn windows_opener(env: &mut TestEnv, name: &str, body: &str) {
    let path = env.path(&format!("bin/{name}"));
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nprintf '%s|' \"$@\" >> '{}'\nfor url; do :; done\nurl=$(printf '%s' \"$url\" | sed 's/\\^//g')\n{body}\n",
            env.path("opener.log").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", env.path("bin").display(), env.var("PATH").unwrap());
    env.set("PATH", path);
}

/// What the browser of an approving user does with the page it is given.
const APPROVE: &str = "curl -sS -o /dev/null -L --max-time 20 \"$url\"";

/// `CERTSH_TEST_WSL`'s folder, with WSL's `/proc/version`.
fn fake_wsl_root(env: &TestEnv) -> PathBuf {
    let root = env.path("wsl");
    std::fs::create_dir_all(root.join("proc")).unwrap();
    std::fs::write(
        root.join("proc/version"),
        "Linux version 5.15.153.1-microsoft-standard-WSL2 (root@941d701f84f1) (gcc (GCC) 11.2.0) #1 SMP\n",
    )
    .unwrap();
    root
}

#[test]
fn in_wsl_login_opens_the_windows_browser_with_wslview() {
    let mut env = world(false);
    env.set("WSL_DISTRO_NAME", "Ubuntu");
    windows_opener(&mut env, "wslview", APPROVE);
    let p = ok(env.certsh(["login"]));
    assert_output(
        &env,
        &shown(&p.stderr),
        snapbox::file!["cases/login_wsl_wslview.stderr"],
    );
    let port = redirect_port(&p.stderr);
    assert_eq!(
        std::fs::read_to_string(env.path("opener.log")).unwrap(),
        format!("http://127.0.0.1:{port}/login|"),
        "the start page, never the authorize URL"
    );
    assert!(env.state_dir().join("session.json").exists());
}

#[test]
fn in_wsl_without_wslview_login_starts_cmd_exe_through_interop() {
    let mut env = world(false);
    let root = fake_wsl_root(&env);
    env.set("CERTSH_TEST_WSL", &root);
    windows_opener(&mut env, "cmd.exe", APPROVE);
    let p = ok(env.certsh(["login"]));
    assert_output(
        &env,
        &shown(&p.stderr),
        snapbox::file!["cases/login_wsl_cmd_exe.stderr"],
    );
    let port = redirect_port(&p.stderr);
    assert_eq!(
        std::fs::read_to_string(env.path("opener.log")).unwrap(),
        format!("/c|start|\"\"|http://127.0.0.1:{port}/login|")
    );
    assert!(env.state_dir().join("session.json").exists());
}

#[test]
fn in_wsl_a_browser_that_does_not_open_falls_back_to_paste_mode() {
    let mut env = world(false);
    let root = fake_wsl_root(&env);
    std::fs::create_dir_all(root.join("proc/sys/fs/binfmt_misc")).unwrap();
    std::fs::write(root.join("proc/sys/fs/binfmt_misc/WSLInterop"), "enabled\n").unwrap();
    env.set("CERTSH_TEST_WSL", &root);
    windows_opener(&mut env, "cmd.exe", "exit 1");
    logs_in_by_pasting_after(
        &env,
        snapbox::file!["cases/login_paste_wsl_browser_failed.stdout"],
    );
}
