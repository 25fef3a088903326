//! Reading a guest's tenant-set configuration strictly. A typo in a key (`tenantid` for
//! `tenant_id`) would otherwise silently switch a check off, so keys a guest does not read are
//! an error, and so are blank values and flags that are neither `true` nor `false`. Every error
//! names the key and says how to fix it.

use crate::Error;

/// A guest's configuration as the host provides it.
pub trait Config {
    /// The value set for `key`, if any.
    fn get(&self, key: &str) -> Result<Option<String>, Error>;

    /// Every key that has a value.
    fn keys(&self) -> Result<Vec<String>, Error>;

    /// The trimmed value of `key`, if set. A value that is set but blank is an error: the
    /// admin meant something by setting it.
    fn text(&self, key: &str) -> Result<Option<String>, Error> {
        match self.get(key)? {
            None => Ok(None),
            Some(value) if value.trim().is_empty() => Err(Error::InvalidConfig(format!(
                "`{key}` is set but empty; give it a value or remove it"
            ))),
            Some(value) => Ok(Some(value.trim().to_string())),
        }
    }

    /// The boolean `key` (`true` or `false`, any case), or `default` when it is not set.
    fn flag(&self, key: &str, default: bool) -> Result<bool, Error> {
        match self.text(key)? {
            None => Ok(default),
            Some(value) if value.eq_ignore_ascii_case("true") => Ok(true),
            Some(value) if value.eq_ignore_ascii_case("false") => Ok(false),
            Some(value) => Err(Error::InvalidConfig(format!(
                "`{key}` must be `true` or `false`, not `{value}`"
            ))),
        }
    }

    /// Fails on the first key set that is not in `known`.
    fn only_known(&self, known: &[&str]) -> Result<(), Error> {
        match self
            .keys()?
            .into_iter()
            .find(|k| !known.contains(&k.as_str()))
        {
            None => Ok(()),
            Some(key) => Err(Error::InvalidConfig(format!(
                "unknown key `{key}`; this plugin reads only {}",
                known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    impl Config for BTreeMap<&str, &str> {
        fn get(&self, key: &str) -> Result<Option<String>, Error> {
            Ok(BTreeMap::get(self, key).map(|v| v.to_string()))
        }
        fn keys(&self) -> Result<Vec<String>, Error> {
            Ok(BTreeMap::keys(self).map(|k| k.to_string()).collect())
        }
    }

    #[test]
    fn flags_are_strict_and_name_the_key() {
        let cfg = BTreeMap::from([("a", "TRUE"), ("b", "maybe"), ("c", " ")]);
        assert_eq!(cfg.flag("a", false), Ok(true));
        assert_eq!(cfg.flag("missing", true), Ok(true));
        assert!(matches!(cfg.flag("b", true), Err(Error::InvalidConfig(m)) if m.contains("`b`")));
        assert!(matches!(cfg.text("c"), Err(Error::InvalidConfig(m)) if m.contains("`c`")));
    }

    #[test]
    fn unknown_keys_are_named() {
        let cfg = BTreeMap::from([("a", "1"), ("tenantid", "x")]);
        assert_eq!(cfg.only_known(&["a", "tenantid"]), Ok(()));
        assert!(
            matches!(cfg.only_known(&["a"]), Err(Error::InvalidConfig(m)) if m.contains("`tenantid`"))
        );
    }
}
