//! What could not be used while reading the configuration: each such item
//! keeps its default and is kept here, so that what could be read still
//! decides which hosts are the cloud's.

/// What could not be used while reading the configuration, item by item.
/// Each such item is left at its default, so that what could be read still
/// decides which hosts are the cloud's: a host outside the cloud never
/// depends on certsh's configuration (`connect/ssh.rs`).
#[derive(Debug, Default)]
pub struct Problems {
    /// Settings whose value is invalid, or whose file cannot be read. Nothing
    /// is asked of the cloud while there is one: the user meant something
    /// else than the defaults that stand in for it.
    pub invalid: Vec<anyhow::Error>,
    /// Files ignored because another user wrote them or can write them
    /// (`config/trust.rs`): one line each, the problem and its fix.
    pub ignored: Vec<String>,
}

impl Problems {
    /// The item's value, or `None` with its error kept.
    pub(crate) fn take<T>(&mut self, item: anyhow::Result<Option<T>>) -> Option<T> {
        item.unwrap_or_else(|e| {
            self.invalid.push(e);
            None
        })
    }

    /// How a command turns what it read into a result: a warning for each
    /// ignored file, and the first invalid setting as the error.
    pub fn into_result(self) -> anyhow::Result<()> {
        self.warn_ignored();
        match self.invalid.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// A warning for each ignored file.
    fn warn_ignored(&self) {
        for line in &self.ignored {
            crate::util::log::warn(line);
        }
    }

    /// One line for a connection to `host` that goes ahead without the
    /// configuration, or `None` when nothing went wrong.
    pub fn summary(&self, host: &str) -> Option<String> {
        let first = match self.invalid.first() {
            Some(e) => format!("{e:#}; connecting to {host} without a certificate"),
            None => self.ignored.first()?.clone(),
        };
        let more = self.invalid.len() + self.ignored.len() - 1;
        Some(match more {
            0 => first,
            n => format!("{first} (and {n} more)"),
        })
    }
}
