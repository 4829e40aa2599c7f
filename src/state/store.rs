//! Where keys and certificates live, and how they are replaced.
//!
//! Layout of the state folder (`<config dir>/certsh`, 0700; on Windows
//! `%LOCALAPPDATA%\certsh\<profile>`, the user's alone):
//!
//! ```text
//! current -> gen-1764316800-3f2a9c1d      symlink, swapped atomically
//! gen-1764316800-3f2a9c1d/id_ed25519      private key, 0600
//! gen-1764316800-3f2a9c1d/id_ed25519.pub  its public key
//! gen-1764316800-3f2a9c1d/id_ed25519-cert.pub
//! lock                                    refresh lock
//! token.json                              access-token cache, 0600
//! session.json                            browser session (credentials/stored.rs), 0600
//! api-token                               `certsh login --api-token`, 0600
//! login.lock                              one browser login at a time
//! ```
//!
//! A generation holds one key for its whole life, so a certificate renewed
//! for the same key is a single rename inside it (on Windows, a new
//! generation with the same key: [`Store::renew`]), and a new key is a new
//! generation published by one symlink rename. ssh is handed the resolved
//! generation's paths, so a parallel ssh can never pair a key with a
//! certificate for another key. Old generations stay for an hour after they
//! were replaced, for any ssh still reading them.
//!
//! When the home folder cannot be written (CI with a read-only or foreign
//! HOME), the state lives in `<temp dir>/certsh-<uid>/<profile>`, which must
//! belong to the user and be closed to others.

use std::fs::{self, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use ssh_key::rand_core::{OsRng, RngCore};
use ssh_key::{Algorithm, Certificate, LineEnding, PrivateKey, PublicKey};

use crate::config::Config;
use crate::state::cert::Validity;
use crate::state::lock::{self, Lock};
use crate::util::error::Fixable;
use crate::util::platform;

const CURRENT: &str = "current";
const KEY: &str = "id_ed25519";
const PUB: &str = "id_ed25519.pub";
const CERT: &str = "id_ed25519-cert.pub";
/// A replaced generation is removed after this long.
const KEEP_OLD_SECS: u64 = 3600;

/// A state folder.
#[derive(Debug, Clone)]
pub struct Store {
    /// The folder.
    pub dir: PathBuf,
}

/// The key and certificate in use.
#[derive(Debug)]
pub struct Cached {
    /// The private key file.
    pub key_path: PathBuf,
    /// The certificate file.
    pub cert_path: PathBuf,
    /// The certificate.
    pub cert: Certificate,
    /// The certificate file's comment: which credential it came from
    /// (`cert::source_comment`).
    pub comment: String,
    /// The public key it certifies (read from the key's `.pub`).
    pub public_key: PublicKey,
    /// When the key was made (Unix seconds).
    pub key_created: u64,
}

/// The key and certificate a connection hands ssh ([`Store::in_use`]).
#[derive(Debug, Clone)]
pub struct InUse {
    /// The private key file.
    pub key_path: PathBuf,
    /// The certificate file.
    pub cert_path: PathBuf,
    /// The certificate's type and window.
    pub validity: Validity,
    /// The certificate file's comment (`cert::source_comment`).
    pub comment: String,
}

impl Cached {
    /// What a connection needs of it.
    pub fn in_use(&self) -> InUse {
        InUse {
            key_path: self.key_path.clone(),
            cert_path: self.cert_path.clone(),
            validity: Validity::of(&self.cert),
            comment: self.comment.clone(),
        }
    }
}

impl Store {
    /// The folder to read from, without creating anything: the home one if it
    /// has state, else the temp-dir fallback if it has state and is safe.
    pub fn locate(cfg: &Config) -> Option<Store> {
        let primary = primary_dir(cfg);
        if fs::symlink_metadata(primary.join(CURRENT)).is_ok() && owned_dir(&primary) {
            return Some(Store { dir: primary });
        }
        let fallback = fallback_dir(cfg);
        if fs::symlink_metadata(fallback.join(CURRENT)).is_ok()
            && check_private_dir(fallback.parent()?).is_ok()
            && check_private_dir(&fallback).is_ok()
        {
            return Some(Store { dir: fallback });
        }
        None
    }

    /// The folder in the home folder, created if needed, and never the
    /// temp-dir fallback: for what outlives the temp folder, such as paths
    /// written into `~/.ssh/config`. The error says why the home one cannot
    /// be used.
    pub fn prepare_in_home(cfg: &Config) -> Result<Store> {
        let primary = primary_dir(cfg);
        prepare_primary(cfg, &primary)?;
        Ok(Store { dir: primary })
    }

    /// The folder to write to, created if needed: the home one when
    /// possible, else the temp-dir fallback.
    pub fn prepare(cfg: &Config) -> Result<Store> {
        let primary = primary_dir(cfg);
        match prepare_primary(cfg, &primary) {
            Ok(()) => return Ok(Store { dir: primary }),
            Err(e) if cfg.debug => {
                crate::util::log::debug(true, || {
                    format!(
                        "cannot use {}: {e}; using the temp folder",
                        primary.display()
                    )
                });
            }
            Err(_) => {}
        }
        let fallback = fallback_dir(cfg);
        let parent = fallback.parent().expect("fallback has a parent");
        make_private_dir(parent)?;
        make_private_dir(&fallback)?;
        Ok(Store { dir: fallback })
    }

    /// Every state folder that exists (the home one, then a safe temp-dir
    /// fallback), without creating anything: where a session or a stored API
    /// token may be, and what `certsh logout` clears.
    pub fn existing(cfg: &Config) -> Vec<Store> {
        let mut out = vec![];
        let primary = primary_dir(cfg);
        if owned_dir(&primary) {
            out.push(Store { dir: primary });
        }
        let fallback = fallback_dir(cfg);
        if fs::symlink_metadata(&fallback).is_ok()
            && fallback
                .parent()
                .is_some_and(|p| check_private_dir(p).is_ok())
            && check_private_dir(&fallback).is_ok()
        {
            out.push(Store { dir: fallback });
        }
        out
    }

    /// The first existing state file called `name` (see [`Store::existing`]).
    pub fn find_file(cfg: &Config, name: &str) -> Option<PathBuf> {
        Store::existing(cfg)
            .into_iter()
            .map(|s| s.dir.join(name))
            .find(|p| fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
    }

    /// The key and certificate in use, if both are there and belong together:
    /// the key file is read and its public half compared with the
    /// certificate's. For what reuses the key (a renewal) and what reports
    /// on it.
    pub fn current(&self) -> Option<Cached> {
        let gen_name = platform::read_pointer(&self.dir.join(CURRENT)).ok()?;
        let gen_dir = self.dir.join(&gen_name);
        let cert_path = gen_dir.join(CERT);
        let (text, _) = read_small(&cert_path)?;
        let (cert, comment) = crate::state::cert::read(&String::from_utf8(text).ok()?)?;
        let key_path = gen_dir.join(KEY);
        let public_key = private_key_public(&key_path)?;
        if cert.public_key() != public_key.key_data() {
            return None;
        }
        Some(Cached {
            key_path,
            cert_path,
            cert,
            comment,
            public_key,
            key_created: generation_time(gen_name.to_str()?)?,
        })
    }

    /// [`Store::current`] as a connection needs it, without reading the key:
    /// a generation's key was checked against each certificate when it was
    /// written into the generation (`cert::check_new`), and the generation's
    /// name records the key file's size (`gen-<made>-<random>-<size>`). So a
    /// connection checks that the key file still has that size and that
    /// others still may not read it (ssh would refuse it): a key emptied,
    /// cut short, opened to others or removed sends the connection to a
    /// renewal, as before. The certificate is read for its window alone
    /// (`cert::read_validity`). A generation named before names had the
    /// size is read as [`Store::current`] reads it. This spares each
    /// connection an open, a read and a decoding of the key, and the
    /// building of the whole certificate (docs/benchmarks.md).
    pub fn in_use(&self) -> Option<InUse> {
        let gen_name = platform::read_pointer(&self.dir.join(CURRENT)).ok()?;
        let Some(size) = gen_name.to_str().and_then(generation_key_size) else {
            return self.current().map(|c| c.in_use());
        };
        let gen_dir = self.dir.join(&gen_name);
        let key_path = gen_dir.join(KEY);
        let meta = fs::metadata(&key_path).ok()?;
        if meta.len() != size || platform::open_to_others(&key_path, &meta).is_some() {
            return None;
        }
        let cert_path = gen_dir.join(CERT);
        let (text, _) = read_small(&cert_path)?;
        let (validity, comment) =
            crate::state::cert::read_validity(&String::from_utf8(text).ok()?)?;
        Some(InUse {
            key_path,
            cert_path,
            validity,
            comment,
        })
    }

    /// Takes the refresh lock.
    pub fn lock(&self, deadline: Instant) -> Result<Lock> {
        lock::acquire(&self.dir.join("lock"), deadline)
    }

    /// The access-token cache file.
    pub fn token_cache(&self) -> PathBuf {
        self.dir.join("token.json")
    }

    /// Replaces the certificate of the current generation (same key): by a
    /// rename inside the generation where a rename may replace a file
    /// another ssh has open; else (Windows) as a new generation that holds
    /// the same key, so that nothing ssh.exe may be reading is replaced.
    pub fn renew(&self, current: &Cached, cert_text: &str) -> Result<()> {
        let gen_dir = current.cert_path.parent().expect("generation folder");
        if platform::RENAMES_OVER_OPEN_FILES {
            return write_atomic(gen_dir, &current.cert_path, cert_text.as_bytes());
        }
        let read =
            |path: &Path| fs::read(path).with_context(|| format!("cannot read {}", path.display()));
        let key = read(&current.key_path)?;
        let public = read(&gen_dir.join(PUB))?;
        let now = crate::state::cert::now();
        self.prepare_files(current.key_created, &key, &public)?
            .publish(cert_text, now)
    }

    /// Starts a generation for a new key made at `created`: its folder, and
    /// the key and its public half written and synced. The certificate comes
    /// later ([`Prepared::publish`]), so the cold path can do this while it
    /// waits for the certifier.
    pub fn prepare_key(&self, key: &PrivateKey, created: u64) -> Result<Prepared<'_>> {
        let pem = key
            .to_openssh(LineEnding::LF)
            .context("cannot encode the key")?;
        let public = key
            .public_key()
            .to_openssh()
            .context("cannot encode the key")?;
        let public = format!("{public}\n");
        self.prepare_files(created, pem.as_bytes(), public.as_bytes())
    }

    /// Writes a generation's key files for a key made at `created` (its
    /// name says when). Nothing names it until it is published.
    fn prepare_files(&self, created: u64, key: &[u8], public: &[u8]) -> Result<Prepared<'_>> {
        // The key's size is in the name for `Store::in_use`.
        let name = format!("gen-{created}-{:08x}-{}", OsRng.next_u32(), key.len());
        let dir = self.dir.join(&name);
        platform::create_private_dir(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let prepared = Prepared {
            store: self,
            name,
            dir,
            published: false,
        };
        write_new_synced(&[
            (&prepared.dir.join(KEY), key),
            (&prepared.dir.join(PUB), public),
        ])?;
        Ok(prepared)
    }

    /// Deletes every key and certificate (`certsh logout`): the `current`
    /// link first, so no new ssh picks a generation up, then the
    /// generations. Returns how many generations went.
    pub fn remove_keys(&self) -> usize {
        let _ = fs::remove_file(self.dir.join(CURRENT));
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("gen-") && fs::remove_dir_all(entry.path()).is_ok() {
                removed += 1;
            } else if name.starts_with(".current-") {
                let _ = fs::remove_file(entry.path());
            }
        }
        removed
    }

    /// Removes generations replaced more than an hour ago. Best effort: a
    /// leftover folder costs nothing but disk.
    fn remove_old(&self, keep: &str, now: u64) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            // Generations, and what a killed process left half done.
            let ours = name.starts_with("gen-")
                || name.starts_with(".current-")
                || name.starts_with(".tmp-");
            if name == keep || !ours {
                continue;
            }
            let old_enough = entry
                .metadata()
                .and_then(|m| m.modified())
                .map(|t| {
                    let secs = t
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs());
                    now.saturating_sub(secs) > KEEP_OLD_SECS
                })
                .unwrap_or(false);
            if old_enough {
                let _ = match entry.file_type() {
                    Ok(t) if t.is_dir() => fs::remove_dir_all(entry.path()),
                    _ => fs::remove_file(entry.path()),
                };
            }
        }
    }
}

/// A generation whose key is written and synced, not yet named by
/// `current`. Dropped unpublished (the certifier refused, the network
/// failed), it is removed; one a killed process left behind goes with the
/// hourly cleanup.
pub struct Prepared<'s> {
    store: &'s Store,
    name: String,
    dir: PathBuf,
    published: bool,
}

impl Prepared<'_> {
    /// Writes the certificate beside the key, synced, makes this generation
    /// the current one and clears away old ones.
    pub fn publish(mut self, cert_text: &str, now: u64) -> Result<()> {
        let store = self.store;
        write_new_synced(&[(&self.dir.join(CERT), cert_text.as_bytes())])?;
        let replaced = platform::read_pointer(&store.dir.join(CURRENT)).ok();
        let link_tmp = store.dir.join(format!(".current-{:08x}", OsRng.next_u32()));
        platform::write_pointer(Path::new(&self.name), &link_tmp)
            .with_context(|| format!("cannot create {}", link_tmp.display()))?;
        fs::rename(&link_tmp, store.dir.join(CURRENT))
            .with_context(|| format!("cannot publish {}", self.dir.display()))?;
        self.published = true;
        // The hour a replaced generation is kept counts from now, not from
        // its last renewal: the cleanup goes by modification time. Best
        // effort, like the cleanup itself.
        if let Some(old) = replaced {
            let _ = fs::File::open(store.dir.join(old))
                .and_then(|d| d.set_modified(std::time::SystemTime::now()));
        }
        store.remove_old(&self.name, now);
        Ok(())
    }
}

impl Drop for Prepared<'_> {
    fn drop(&mut self) {
        if !self.published {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// A small file's bytes and metadata: read to the size its `fstat` gave
/// (at most 64 KiB, which no key or certificate reaches) in one read of a
/// byte more. A read of a regular file that comes back short has reached
/// the end, so the extra read that `fs::read` makes to see the end is not
/// needed. Both files the hot path reads come through here.
fn read_small(path: &Path) -> Option<(Vec<u8>, fs::Metadata)> {
    let mut file = fs::File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    let mut bytes = vec![0u8; usize::try_from(meta.len()).ok()?.min(64 * 1024) + 1];
    let mut filled = 0;
    while filled < bytes.len() {
        match std::io::Read::read(&mut file, &mut bytes[filled..]) {
            Ok(0) => break,
            Ok(n) => {
                filled += n;
                if filled < bytes.len() {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    bytes.truncate(filled);
    Some((bytes, meta))
}

/// The public key inside an unencrypted OpenSSH private key file, after
/// checking the file's structure: armour, base64, magic, one key, and a
/// private section as long as it says. A truncated, empty or garbage file,
/// or one that others may read (ssh would refuse it), gives `None`, and the
/// caller makes a new key. This is cheap on purpose: it runs on every
/// connection, and deriving the public key from the private one would cost
/// a scalar multiplication.
fn private_key_public(path: &Path) -> Option<PublicKey> {
    use base64::Engine as _;
    let (bytes, meta) = read_small(path)?;
    if platform::open_to_others(path, &meta).is_some() {
        return None;
    }
    let pem = String::from_utf8(bytes).ok()?;
    let body = pem
        .trim()
        .strip_prefix("-----BEGIN OPENSSH PRIVATE KEY-----")?
        .strip_suffix("-----END OPENSSH PRIVATE KEY-----")?;
    // The armour's lines without their line breaks (a byte filter: `str`'s
    // split by whitespace took five times the instructions).
    let b64: Vec<u8> = body.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let mut rest: &[u8] = bytes.strip_prefix(b"openssh-key-v1\0")?;
    fn string<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
        let (len, tail) = rest.split_first_chunk::<4>()?;
        let len = u32::from_be_bytes(*len) as usize;
        if tail.len() < len {
            return None;
        }
        let (s, tail) = tail.split_at(len);
        *rest = tail;
        Some(s)
    }
    // Cipher and KDF "none": certsh writes its keys unencrypted.
    if string(&mut rest)? != b"none" || string(&mut rest)? != b"none" {
        return None;
    }
    string(&mut rest)?; // KDF options
    let (count, tail) = rest.split_first_chunk::<4>()?;
    if u32::from_be_bytes(*count) != 1 {
        return None;
    }
    rest = tail;
    let public = string(&mut rest)?;
    let private = string(&mut rest)?;
    if private.is_empty() || !rest.is_empty() {
        return None;
    }
    PublicKey::from_bytes(public).ok()
}

/// A fresh ed25519 key, made in-process.
pub fn new_key(comment: &str) -> Result<PrivateKey> {
    let mut key =
        PrivateKey::random(&mut OsRng, Algorithm::Ed25519).context("cannot generate a key")?;
    key.set_comment(comment);
    Ok(key)
}

/// The state folder in the home folder, whether or not it exists: a named
/// account's is its own, `accounts/<name>` inside the profile's, so that two
/// accounts never share a lock, a key, a certificate or a session.
pub fn primary_dir(cfg: &Config) -> PathBuf {
    let dir = profile_dir(cfg);
    match &cfg.account {
        Some(a) => dir.join(ACCOUNTS).join(&a.name),
        None => dir,
    }
}

/// certsh's own folder for the profile: `certsh` in the profile's config
/// folder, beside the official CLI's files; on Windows
/// `%LOCALAPPDATA%\certsh\<profile>`, where a program keeps its own state
/// (the config folder, `%USERPROFILE%\.magento-cloud`, stays the official
/// CLI's).
fn profile_dir(cfg: &Config) -> PathBuf {
    match &cfg.local_app_data {
        Some(base) => base.join("certsh").join(cfg.profile.name),
        None => cfg.config_dir.join("certsh"),
    }
}

/// The folder of the accounts' state folders, inside the profile's.
const ACCOUNTS: &str = "accounts";

/// The default socket of `certsh agent`, for one profile:
/// `$XDG_RUNTIME_DIR/certsh/<profile>-agent.sock` when the session has a
/// runtime folder (private to the user, removed at logout), else
/// `agent.sock` in the state folder. `certsh agent`, `certsh env`, `setup
/// agent` and `setup ssh-config` all name it through this function. A named
/// account's is its own (`<profile>.<account>-agent.sock`, or in its state
/// folder), so that an agent per account can run beside the profile's.
pub fn agent_socket_path(cfg: &Config) -> PathBuf {
    let name = match &cfg.account {
        // An account name has no `.`: this cannot be another profile's.
        Some(a) => format!("{}.{}", cfg.profile.name, a.name),
        None => cfg.profile.name.to_string(),
    };
    match &cfg.runtime_dir {
        Some(run) => run.join("certsh").join(format!("{name}-agent.sock")),
        None => primary_dir(cfg).join("agent.sock"),
    }
}

/// Refuses a state folder that ssh cannot be told about: ssh replaces
/// `${NAME}` in `IdentityFile` and `CertificateFile` by an environment
/// variable, on its command line and in ssh_config alike, and nothing
/// escapes it (`$${`, `\${` and `%` tokens all still expand), so the key and
/// certificate would be looked for elsewhere. No file is read: this runs
/// before a renewal, which would be for nothing.
pub fn check_nameable_by_ssh(dir: &Path, cfg: &Config) -> Result<(), Fixable> {
    if !has_dollar_brace(dir) {
        return Ok(());
    }
    let fix = if dir == fallback_dir(cfg) {
        "set TMPDIR to a folder whose path has no \"${\""
    } else {
        "set HOME to a folder whose path has no \"${\""
    };
    Err(Fixable::new(
        format!(
            "the state folder {} contains \"${{\", which ssh would replace by an environment \
             variable in IdentityFile and CertificateFile",
            dir.display()
        ),
        fix,
    ))
}

/// Whether ssh would read part of `path` as `${NAME}`.
pub fn has_dollar_brace(path: &Path) -> bool {
    path.as_os_str()
        .as_encoded_bytes()
        .windows(2)
        .any(|w| w == b"${")
}

fn fallback_dir(cfg: &Config) -> PathBuf {
    let uid = platform::user_id();
    let base = std::env::temp_dir().join(format!("certsh-{uid}"));
    match &cfg.account {
        // An account name has no `.`: this cannot be another profile's.
        Some(a) => base.join(format!("{}.{}", cfg.profile.name, a.name)),
        None => base.join(cfg.profile.name),
    }
}

fn prepare_primary(cfg: &Config, dir: &Path) -> Result<()> {
    // Never create a home folder that is not there: that is a foreign HOME.
    if !cfg.home.is_dir() {
        anyhow::bail!("{} is not a folder", cfg.home.display());
    }
    let profile_dir = profile_dir(cfg);
    // The profile's config folder (on Windows `%LOCALAPPDATA%\certsh`).
    let above = profile_dir.parent().expect("the state folder is in one");
    if !above.exists() {
        match platform::create_private_dir(above) {
            // A parallel certsh has just made it: that one is as good, and
            // falling back to the temp folder would split the lock in two.
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            r => r.with_context(|| format!("cannot create {}", above.display()))?,
        }
    }
    if cfg.account.is_some() {
        make_private_dir(&profile_dir)?;
        make_private_dir(&profile_dir.join(ACCOUNTS))?;
    }
    make_private_dir(dir)?;
    // A folder we may not write (read-only HOME mounted in CI) is useless.
    let probe = dir.join("lock");
    platform::open_private(
        OpenOptions::new().create(true).truncate(false).write(true),
        &probe,
    )
    .with_context(|| format!("cannot write in {}", dir.display()))?;
    Ok(())
}

/// Creates `dir` 0700 or checks an existing one: it must be a real folder of
/// ours; group and other permissions are removed.
fn make_private_dir(dir: &Path) -> Result<()> {
    match platform::create_private_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", dir.display())),
    }
    let meta =
        fs::symlink_metadata(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    check_owner(dir, &meta)?;
    if let Some(open) = platform::open_to_others(dir, &meta) {
        platform::set_mode(dir, 0o700)
            .with_context(|| format!("cannot make {} private (chmod 700)", dir.display()))?;
        crate::util::log::warn(&format!(
            "{} was open to other users ({open}); made it private (700)",
            dir.display(),
        ));
    }
    Ok(())
}

/// Whether `dir` is a real folder of the user's. Another user who may write
/// the config folder could otherwise put her own session, token or key
/// there for certsh to use.
fn owned_dir(dir: &Path) -> bool {
    fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir() && platform::owned_by_user(dir, &m))
}

/// Refuses a folder that another user could have planted or can read.
fn check_private_dir(dir: &Path) -> Result<()> {
    let meta =
        fs::symlink_metadata(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    check_owner(dir, &meta)?;
    if platform::open_to_others(dir, &meta).is_some() {
        return Err(Fixable::new(
            format!("{} is open to other users", dir.display()),
            format!("run: chmod 700 {}", dir.display()),
        )
        .into());
    }
    Ok(())
}

fn check_owner(dir: &Path, meta: &fs::Metadata) -> Result<()> {
    let uid = platform::user_id();
    if !meta.file_type().is_dir() || !platform::owned_by_user(dir, meta) {
        return Err(Fixable::new(
            format!("{} is not a folder owned by you (uid {uid})", dir.display()),
            "remove it, or set TMPDIR to a private folder",
        )
        .into());
    }
    Ok(())
}

/// The creation time in a generation's name.
fn generation_time(name: &str) -> Option<u64> {
    name.strip_prefix("gen-")?.split('-').next()?.parse().ok()
}

/// The key file's size that a generation's name records, if it does
/// (`gen-<made>-<random>-<size>`; older names stop after the random part).
fn generation_key_size(name: &str) -> Option<u64> {
    let mut parts = name.strip_prefix("gen-")?.split('-');
    let size = parts.nth(2)?;
    if parts.next().is_some() || !size.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    size.parse().ok()
}

mod write;

pub use write::{replace_file, replace_read_by_others, write_cache, write_private};
use write::{write_atomic, write_new_synced};

#[cfg(test)]
mod tests;
