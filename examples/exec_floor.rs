//! The least any wrapper in front of ssh can cost: a Rust program that does
//! nothing but exec `$CERTSH_REAL_SSH` with its arguments (on Windows, run
//! it and pass its exit code on, as certsh does). The benchmark measures it
//! beside certsh, so that the README can say how much of certsh's cost is
//! the extra process and how much is certsh's own work.

fn main() {
    let ssh = std::env::var_os("CERTSH_REAL_SSH").unwrap_or_else(|| "ssh".into());
    let err = certsh::util::platform::exec(
        std::process::Command::new(ssh).args(std::env::args_os().skip(1)),
    );
    eprintln!("exec_floor: {err}");
    std::process::exit(255);
}
