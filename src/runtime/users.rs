//! The user a container runs as: the image's `user` (`name`, `uid`, `name:group`, `uid:gid`)
//! resolved against the image's `/etc/passwd` and `/etc/group`, overridden by
//! `runAsUser`/`runAsGroup`, with the supplementary groups containerd gives (the primary gid,
//! the groups listing the user by name, then `supplementalGroups`).

/// The resolved identity of a container's processes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// The user's name in the image, when it has one.
    pub name: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    #[error("unable to find user {0}: no matching entries in the image's /etc/passwd")]
    UnknownUser(String),
    #[error("unable to find group {0}: no matching entries in the image's /etc/group")]
    UnknownGroup(String),
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
}

fn passwd_entries(passwd: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    passwd.lines().filter_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        Some(PasswdEntry { name, uid, gid })
    })
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn group_entries(group: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    group.lines().filter_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        let gid = fields.next()?.parse().ok()?;
        let members = fields
            .next()
            .unwrap_or("")
            .split(',')
            .filter(|m| !m.is_empty())
            .collect();
        Some(GroupEntry { name, gid, members })
    })
}

/// Resolves the container's user.
///
/// `passwd` and `group` are the image's files (`None` when it has none).
///
/// # Errors
/// A user or group given by name that the image does not define.
pub fn resolve(
    image_user: Option<&str>,
    run_as_user: Option<u32>,
    run_as_group: Option<u32>,
    supplemental_groups: &[u32],
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ResolvedUser, UserError> {
    let passwd = passwd.unwrap_or("");
    let group = group.unwrap_or("");
    let spec = image_user.unwrap_or("").trim();
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };

    let by_uid = |uid: u32| passwd_entries(passwd).find(|e| e.uid == uid);
    let (uid, mut gid, name) = if let Some(uid) = run_as_user {
        match by_uid(uid) {
            Some(entry) => (uid, entry.gid, Some(entry.name.to_string())),
            None => (uid, 0, None),
        }
    } else if user_part.is_empty() {
        (0, 0, by_uid(0).map(|e| e.name.to_string()))
    } else if let Ok(uid) = user_part.parse::<u32>() {
        match by_uid(uid) {
            Some(entry) => (uid, entry.gid, Some(entry.name.to_string())),
            None => (uid, 0, None),
        }
    } else {
        let entry = passwd_entries(passwd)
            .find(|e| e.name == user_part)
            .ok_or_else(|| UserError::UnknownUser(user_part.to_string()))?;
        (entry.uid, entry.gid, Some(entry.name.to_string()))
    };
    if let Some(group_part) = group_part.filter(|g| !g.is_empty()) {
        gid = match group_part.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group_entries(group)
                .find(|g| g.name == group_part)
                .map(|g| g.gid)
                .ok_or_else(|| UserError::UnknownGroup(group_part.to_string()))?,
        };
    }
    if let Some(run_as_group) = run_as_group {
        gid = run_as_group;
    }

    let mut additional_gids = vec![gid];
    if let Some(name) = &name {
        additional_gids.extend(
            group_entries(group)
                .filter(|g| g.name != name && g.members.contains(&name.as_str()))
                .map(|g| g.gid),
        );
    }
    additional_gids.extend_from_slice(supplemental_groups);
    let mut seen = Vec::new();
    additional_gids.retain(|g| {
        let new = !seen.contains(g);
        seen.push(*g);
        new
    });
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\nbob:x:1000:1000::/home/bob:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\nbob:x:1000:\naudio:x:29:bob,www\nvideo:x:44:bob\n";

    #[test]
    fn empty_user_is_root() {
        let user = resolve(None, None, None, &[], Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!((user.uid, user.gid), (0, 0));
        assert_eq!(user.additional_gids, vec![0]);
    }

    #[test]
    fn names_are_looked_up_with_their_groups() {
        let user = resolve(Some("bob"), None, None, &[5], Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!((user.uid, user.gid), (1000, 1000));
        assert_eq!(user.additional_gids, vec![1000, 29, 44, 5]);
        let user = resolve(
            Some("www:video"),
            None,
            None,
            &[],
            Some(PASSWD),
            Some(GROUP),
        )
        .unwrap();
        assert_eq!((user.uid, user.gid), (33, 44));
    }

    #[test]
    fn numeric_users_need_no_entry() {
        let user = resolve(Some("1234:5678"), None, None, &[], None, None).unwrap();
        assert_eq!((user.uid, user.gid), (1234, 5678));
        let user = resolve(Some("33"), None, None, &[], Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!((user.uid, user.gid), (33, 33));
    }

    #[test]
    fn run_as_overrides_the_image() {
        let user = resolve(Some("bob"), Some(33), None, &[], Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!((user.uid, user.gid), (33, 33));
        assert_eq!(user.additional_gids, vec![33, 29]);
        let user = resolve(
            Some("bob"),
            Some(4000),
            Some(7),
            &[],
            Some(PASSWD),
            Some(GROUP),
        )
        .unwrap();
        assert_eq!((user.uid, user.gid), (4000, 7));
    }

    #[test]
    fn unknown_names_are_errors() {
        assert_eq!(
            resolve(Some("nobody"), None, None, &[], Some(PASSWD), Some(GROUP)),
            Err(UserError::UnknownUser("nobody".into()))
        );
        assert_eq!(
            resolve(
                Some("bob:wheel"),
                None,
                None,
                &[],
                Some(PASSWD),
                Some(GROUP)
            ),
            Err(UserError::UnknownGroup("wheel".into()))
        );
    }
}
