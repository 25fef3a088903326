//! Pairing the parts of the `space_name` and `space_role` attributes: which roles were named
//! for which space. Pure text work; whether a space or role exists is decided by the caller.

/// One space as named by the IdP, with the roles named for it, in order. No roles means the
/// space gets the default role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair<'a> {
    /// The space as the IdP spelled it.
    pub space: &'a str,
    /// The roles named for it; the first valid one wins.
    pub roles: Vec<&'a str>,
}

/// The pairs, and the roles left over without a space.
///
/// - no spaces: nothing (roles alone say nothing about where they apply);
/// - no roles: every space with no role (so, the default role);
/// - one role: it applies to every space (rule 1);
/// - one space, several roles: all of them are candidates for it (rule 2);
/// - several of each: paired in order; extra spaces get no role (rule 4), extra roles are
///   left over (rule 5).
pub fn pair<'a>(spaces: &[&'a str], roles: &[&'a str]) -> (Vec<Pair<'a>>, Vec<&'a str>) {
    let with = |space: &'a str, roles: &[&'a str]| Pair {
        space,
        roles: roles.to_vec(),
    };
    match (spaces, roles) {
        ([], _) => (Vec::new(), roles.to_vec()),
        (_, [] | [_]) => (spaces.iter().map(|s| with(s, roles)).collect(), Vec::new()),
        ([space], _) => (vec![with(space, roles)], Vec::new()),
        _ => {
            let pairs = spaces
                .iter()
                .enumerate()
                .map(|(i, s)| with(s, roles.get(i..=i).unwrap_or_default()))
                .collect();
            let left = roles.get(spaces.len()..).unwrap_or_default().to_vec();
            (pairs, left)
        }
    }
}
