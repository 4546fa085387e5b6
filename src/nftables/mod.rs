//! nftables over netlink, without the `nft` command: [`apply`] programs a script — the
//! subset of nft's language kedge's pod network and service proxy write — as one
//! transaction, the way `nft -f` would, but straight to the kernel's nf_tables netlink
//! interface.
//!
//! - [`compile`]: the script's statements and rules turned into nf_tables messages;
//! - [`netlink`]: attributes, expressions and the batch framing.
//!
//! The whole script is one batch: the kernel applies every message or none. Unlike `nft`,
//! nothing is read from the kernel first (nft fetches the table it changes, which for the
//! proxy's table of 10,000 chains cost more than the change itself), so a change costs in
//! proportion to its size.

pub mod compile;
pub mod netlink;

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, send,
    setsockopt, socket, sockopt,
};

use netlink::{Kind, Message, NLM_F_ACK};

/// How long the kernel may take to answer a batch (a whole table of 10,000 chains takes
/// about a second).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// Applies `script` as one transaction.
///
/// # Errors
/// A statement kedge does not write (`InvalidInput`), or the kernel's refusal, naming the
/// statement it refused (for example `No such file or directory` for a rule jumping to a
/// chain that does not exist); nothing of the script is applied then.
pub fn apply(script: &str) -> io::Result<()> {
    let messages = compile::compile(script)?;
    if messages.is_empty() {
        return Ok(());
    }
    let mut socket = Socket::open()?;
    socket.transaction(&messages)
}

/// kedge's tables: the pod network's and the service proxy's (default names).
pub const KEDGE_TABLES: [(&str, &str); 2] = [("inet", "kedge"), ("ip", "kedge-proxy")];

/// Deletes kedge's tables ([`KEDGE_TABLES`]) where they exist, as `kedge-killall.sh` does
/// with the `nft` command when the host has it.
///
/// # Errors
/// When nf_tables refuses (a table that does not exist is not an error).
pub fn delete_kedge_tables() -> io::Result<()> {
    for (family, name) in KEDGE_TABLES {
        // Declared first, so that the delete never finds it missing.
        apply(&format!(
            "table {family} {name}\ndelete table {family} {name}\n"
        ))?;
    }
    Ok(())
}

/// Whether nf_tables can be programmed here: a netlink socket to it opens and answers.
///
/// # Errors
/// What is missing, and the fix.
pub fn available() -> io::Result<()> {
    let mut socket = Socket::open()?;
    socket.sequence += 1;
    let request = netlink::single(Kind::GetGen, NLM_F_ACK, socket.sequence);
    socket.send(&request)?;
    let sequence = socket.sequence;
    let mut refused = None;
    socket
        .answers(sequence.wrapping_sub(1), sequence, |(_, code)| {
            refused = Some(io::Error::from_raw_os_error(code));
        })
        .and_then(|()| refused.map_or(Ok(()), Err))
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "the kernel's nf_tables does not answer ({e}): it needs CONFIG_NF_TABLES (module nf_tables)"
                ),
            )
        })
}

/// A bound `NETLINK_NETFILTER` socket (nf_tables here, ctnetlink for the proxy's conntrack
/// clearing); `what` names it in errors.
pub fn netfilter_socket(what: &str) -> io::Result<OwnedFd> {
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkNetFilter,
    )
    .map_err(|e| io::Error::other(format!("cannot open a {what} netlink socket: {e}")))?;
    bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))
        .map_err(|e| io::Error::other(format!("cannot bind the {what} netlink socket: {e}")))?;
    Ok(fd)
}

/// A netlink socket to nf_tables.
struct Socket {
    fd: OwnedFd,
    sequence: u32,
}

impl Socket {
    fn open() -> io::Result<Socket> {
        let fd = netfilter_socket("nf_tables")?;
        let timeout = nix::sys::time::TimeVal::new(ANSWER_TIMEOUT.as_secs() as i64, 0);
        setsockopt(&fd, sockopt::ReceiveTimeout, &timeout).map_err(io::Error::other)?;
        // Sequence numbers only need to differ between the batches of one socket.
        Ok(Socket { fd, sequence: 0 })
    }

    fn send(&self, data: &[u8]) -> io::Result<()> {
        // A batch is one datagram: the socket's send buffer must hold it (the kernel caps
        // the ordinary option; root may force it, as nft does).
        let need = data.len().saturating_add(4096);
        if need > 200_000 {
            let size = need.min(i32::MAX as usize);
            setsockopt(&self.fd, sockopt::SndBufForce, &size).map_err(|e| {
                io::Error::other(format!(
                    "cannot size the nf_tables socket for a {} byte batch: {e}",
                    data.len()
                ))
            })?;
        }
        send(self.fd.as_raw_fd(), data, MsgFlags::empty())
            .map_err(|e| io::Error::other(format!("nf_tables netlink send: {e}")))?;
        Ok(())
    }

    /// Sends `messages` as one batch and waits for the kernel's verdict.
    fn transaction(&mut self, messages: &[Message]) -> io::Result<()> {
        let first = self.sequence.wrapping_add(1);
        self.sequence = first.wrapping_add(messages.len() as u32 + 1);
        let data = netlink::batch(messages, first);
        self.send(&data)?;
        let last = first.wrapping_add(messages.len() as u32);
        let mut refused: Option<io::Error> = None;
        self.answers(first, last, |(sequence, code)| {
            if refused.is_none() {
                let index = sequence.wrapping_sub(first).wrapping_sub(1) as usize;
                let error = io::Error::from_raw_os_error(code);
                refused = Some(match messages.get(index) {
                    Some(message) => error.with_context(&message.statement),
                    None => io::Error::new(
                        error.kind(),
                        format!("nf_tables refused the whole transaction: {error}"),
                    ),
                });
            }
        })?;
        match refused {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Reads answers until the acknowledgement of `last`; `refusal` gets every error as
    /// (sequence, errno). An answer to a sequence outside `first + 1 ..= last` (the kernel
    /// refusing the batch as a whole, say for want of `CAP_NET_ADMIN`) also ends the wait.
    fn answers(
        &mut self,
        first: u32,
        last: u32,
        mut refusal: impl FnMut((u32, i32)),
    ) -> io::Result<()> {
        let ours = |sequence: u32| {
            let offset = sequence.wrapping_sub(first);
            offset >= 1 && offset <= last.wrapping_sub(first)
        };
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            let n = recv(self.fd.as_raw_fd(), &mut buffer, MsgFlags::empty())
                .map_err(|e| io::Error::other(format!("no answer from nf_tables: {e}")))?;
            for message in netlink::received(buffer.get(..n).unwrap_or_default()) {
                let Some(code) = message.error_code() else {
                    continue;
                };
                if code != 0 {
                    refusal((message.sequence, -code));
                }
                if message.sequence == last || !ours(message.sequence) {
                    return Ok(());
                }
            }
        }
    }
}

/// An error naming the statement it is about.
trait WithContext {
    fn with_context(self, statement: &str) -> io::Error;
}

impl WithContext for io::Error {
    fn with_context(self, statement: &str) -> io::Error {
        io::Error::new(
            self.kind(),
            format!("nf_tables refused `{statement}`: {self}"),
        )
    }
}

/// Test support: applies `scripts` in turn with `apply` in a new network namespace and lists
/// `table` (`<family> <name>`) with the `nft` command after each (empty once it is gone).
#[cfg(test)]
pub fn listings(
    scripts: &[String],
    table: &str,
    apply: impl Fn(&str) -> io::Result<()> + Send + 'static,
) -> Vec<String> {
    let scripts = scripts.to_vec();
    let table: Vec<String> = table.split_whitespace().map(String::from).collect();
    std::thread::spawn(move || {
        // The namespace is the thread's; the `nft` children inherit it.
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let mut out = Vec::new();
        for script in &scripts {
            if let Err(error) = apply(script) {
                panic!("{error}\n{script}");
            }
            let listed = std::process::Command::new("nft")
                .args(["list", "table"])
                .args(&table)
                .output()
                .unwrap();
            out.push(String::from_utf8_lossy(&listed.stdout).into_owned());
        }
        out
    })
    .join()
    .unwrap()
}

#[cfg(test)]
mod tests;
