//! `store.rs`'s tests: the private key's checks, the state folder,
//! generation names, private folders and atomic private writes.

use super::*;

#[test]
fn private_key_structure_is_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("k");
    let key = new_key("t").unwrap();
    let pem = key.to_openssh(LineEnding::LF).unwrap().to_string();
    write_new_synced(&[(&path, pem.as_bytes())]).unwrap();
    assert_eq!(
        private_key_public(&path).unwrap().key_data(),
        key.public_key().key_data()
    );
    let half = pem[..pem.len() / 2].to_string();
    let swapped = pem.replace('A', "B");
    for bad in [half.as_str(), "", "garbage", swapped.as_str()] {
        fs::write(&path, bad).unwrap();
        let got = private_key_public(&path);
        assert!(
            got.is_none_or(|k| k.key_data() != key.public_key().key_data()),
            "{bad:?}"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::write(&path, pem.as_bytes()).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(private_key_public(&path).is_none(), "open to others");
    }
}

#[test]
fn the_state_folder_is_the_profiles_or_on_windows_under_local_app_data() {
    let home = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let env: std::collections::HashMap<String, String> =
        [("HOME", home.path()), ("LOCALAPPDATA", local.path())]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.display().to_string()))
            .collect();
    let (cfg, _) = Config::read(None, &env);
    let expected = if cfg!(windows) {
        local.path().join("certsh").join(cfg.profile.name)
    } else {
        home.path().join(cfg.profile.config_dir).join("certsh")
    };
    assert_eq!(primary_dir(&cfg), expected);
    let store = Store::prepare(&cfg).unwrap();
    assert_eq!(store.dir, expected);
    let meta = fs::metadata(&expected).unwrap();
    assert_eq!(platform::open_to_others(&expected, &meta), None);
}

#[test]
fn generation_names_carry_their_time() {
    assert_eq!(generation_time("gen-1764316800-3f2a9c1d"), Some(1764316800));
    assert_eq!(
        generation_time("gen-1764316800-3f2a9c1d-411"),
        Some(1764316800)
    );
    assert_eq!(generation_time("current"), None);
}

#[test]
fn generation_names_carry_their_key_size_unless_written_before_they_did() {
    assert_eq!(
        generation_key_size("gen-1764316800-3f2a9c1d-411"),
        Some(411)
    );
    for name in [
        "gen-1764316800-3f2a9c1d",
        "gen-1764316800-3f2a9c1d-",
        "gen-1764316800-3f2a9c1d-+411",
        "gen-1764316800-3f2a9c1d-411-1",
        "current",
    ] {
        assert_eq!(generation_key_size(name), None, "{name}");
    }
}

/// The connection's check of the key (`in_use`) passes over what the full
/// one (`current`) reads, and catches what a renewal must follow: a key
/// cut short, emptied or removed. A generation without the size in its
/// name has its key read, as every generation had before.
#[test]
fn a_connection_checks_the_keys_size_and_a_renewal_reads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store {
        dir: tmp.path().to_path_buf(),
    };
    let key = new_key("certsh-test").unwrap();
    let prepared = store.prepare_key(&key, 1_764_316_800).unwrap();
    let name = prepared.name.clone();
    let now = crate::state::cert::now();
    let cert = crate::state::cert::tests::cert_for(
        &key,
        now - 30,
        now + 3600,
        ssh_key::certificate::CertType::User,
    );
    prepared.publish(&cert, now).unwrap();
    let key_file = tmp.path().join(&name).join(KEY);
    assert_eq!(
        generation_key_size(&name),
        Some(fs::metadata(&key_file).unwrap().len())
    );
    assert!(store.in_use().is_some() && store.current().is_some());

    // The same size, another public key: only the full check reads it.
    // Base64 character 109 is in the public key's bytes (62 to 94), on the
    // armour's second line.
    let other_public = |bytes: &mut [u8]| {
        let at = bytes.iter().position(|b| *b == b'\n').unwrap() + 1 + 71 + 109 - 70;
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    };
    let mut bytes = fs::read(&key_file).unwrap();
    other_public(&mut bytes);
    let middle = bytes.len() / 2;
    fs::write(&key_file, &bytes).unwrap();
    assert!(store.in_use().is_some());
    assert!(store.current().is_none());

    bytes.truncate(middle);
    fs::write(&key_file, &bytes).unwrap();
    assert!(store.in_use().is_none());
    fs::remove_file(&key_file).unwrap();
    assert!(store.in_use().is_none());

    // An older generation's name: the key is read on every connection.
    let old = tmp.path().join("gen-1764316800-3f2a9c1d");
    fs::rename(tmp.path().join(&name), &old).unwrap();
    let key_pem = key.to_openssh(LineEnding::LF).unwrap();
    write_new_synced(&[(&old.join(KEY), key_pem.as_bytes())]).unwrap();
    let current = tmp.path().join(CURRENT);
    fs::remove_file(&current).unwrap();
    platform::write_pointer(Path::new("gen-1764316800-3f2a9c1d"), &current).unwrap();
    assert!(store.in_use().is_some());
    let mut pem = key_pem.as_bytes().to_vec();
    other_public(&mut pem);
    fs::write(old.join(KEY), &pem).unwrap();
    assert!(store.in_use().is_none());
}

#[cfg(unix)]
#[test]
fn private_dir_is_repaired_and_checked() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(check_private_dir(&dir).is_err());
    make_private_dir(&dir).unwrap();
    assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
    check_private_dir(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn a_symlink_is_not_a_private_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("real");
    make_private_dir(&real).unwrap();
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    assert!(make_private_dir(&link).is_err());
    assert!(check_private_dir(&link).is_err());
}

#[test]
fn atomic_write_is_private() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("f");
    write_private(&path, b"one").unwrap();
    write_private(&path, b"two").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"two");
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(platform::open_to_others(&path, &meta), None);
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        assert_eq!(meta.mode() & 0o777, 0o600);
    }
}

/// A certificate for `key`, valid for an hour (`cert::tests::cert_for`).
fn cert_for(key: &PrivateKey) -> String {
    use ssh_key::certificate::CertType;
    let now = crate::state::cert::now();
    crate::state::cert::tests::cert_for(key, now - 30, now + 3600, CertType::User)
}

/// A state folder of its own, in a temporary folder.
fn temp_store() -> (tempfile::TempDir, Store) {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store {
        dir: tmp.path().to_path_buf(),
    };
    (tmp, store)
}

fn generations(store: &Store) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(&store.dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("gen-"))
        .collect();
    names.sort();
    names
}

#[test]
fn a_prepared_generation_is_current_only_once_published() {
    let (tmp, store) = temp_store();
    let now = crate::state::cert::now();
    let key = new_key("first").unwrap();
    let prepared = store.prepare_key(&key, now).unwrap();
    let [name] = <[String; 1]>::try_from(generations(&store)).unwrap();
    assert!(tmp.path().join(&name).join(KEY).is_file());
    assert!(!tmp.path().join(&name).join(CERT).exists());
    assert!(store.current().is_none(), "nothing names it yet");
    prepared.publish(&cert_for(&key), now).unwrap();
    let current = store.current().expect("published");
    assert_eq!(current.public_key.key_data(), key.public_key().key_data());
    assert_eq!(current.key_path, tmp.path().join(&name).join(KEY));
}

/// A second key whose certificate never comes (the certifier refused):
/// its folder goes, and `current` still names the first generation.
#[test]
fn a_prepared_generation_dropped_unpublished_is_removed_and_current_left_alone() {
    let (tmp, store) = temp_store();
    let now = crate::state::cert::now();
    let first = new_key("first").unwrap();
    store
        .prepare_key(&first, now)
        .unwrap()
        .publish(&cert_for(&first), now)
        .unwrap();
    let [name] = <[String; 1]>::try_from(generations(&store)).unwrap();
    let second = new_key("second").unwrap();
    let prepared = store.prepare_key(&second, now).unwrap();
    assert_eq!(generations(&store).len(), 2);
    drop(prepared);
    assert_eq!(generations(&store), std::slice::from_ref(&name));
    let pointer = platform::read_pointer(&tmp.path().join(CURRENT)).unwrap();
    assert_eq!(pointer, std::path::Path::new(&name));
}
