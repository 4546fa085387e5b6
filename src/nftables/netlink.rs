//! The nf_tables netlink encoding: attributes ([`Attrs`]), the expressions kedge's rules are
//! made of ([`Expr`]), and messages ([`Message`]) framed into one batch ([`batch`]). Numbers
//! are from `linux/netfilter/nf_tables.h` and `nfnetlink.h`; a rule's expressions are the
//! ones `nft --debug=netlink` shows for the same rule.

// Netlink.
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_CREATE: u16 = 0x400;
pub const NLM_F_APPEND: u16 = 0x800;
const NLA_F_NESTED: u16 = 0x8000;

// nfnetlink.
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFNL_SUBSYS_NFTABLES: u16 = 10;

/// `NFT_MSG_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    NewTable = 0,
    DelTable = 2,
    NewChain = 3,
    DelChain = 5,
    NewRule = 6,
    DelRule = 8,
    NewSet = 9,
    DelSet = 11,
    NewSetElem = 12,
    DelSetElem = 14,
    GetGen = 16,
}

/// `NFPROTO_*`: the family of a table.
pub const NFPROTO_INET: u8 = 1;
pub const NFPROTO_IPV4: u8 = 2;
pub const NFPROTO_IPV6: u8 = 10;

// Attributes of tables, chains, rules, sets and elements.
pub const NFTA_TABLE_NAME: u16 = 1;
pub const NFTA_TABLE_FLAGS: u16 = 2;
pub const NFTA_CHAIN_TABLE: u16 = 1;
pub const NFTA_CHAIN_NAME: u16 = 3;
pub const NFTA_CHAIN_HOOK: u16 = 4;
pub const NFTA_CHAIN_POLICY: u16 = 5;
pub const NFTA_CHAIN_TYPE: u16 = 7;
pub const NFTA_HOOK_HOOKNUM: u16 = 1;
pub const NFTA_HOOK_PRIORITY: u16 = 2;
pub const NFTA_RULE_TABLE: u16 = 1;
pub const NFTA_RULE_CHAIN: u16 = 2;
pub const NFTA_RULE_EXPRESSIONS: u16 = 4;
pub const NFTA_SET_TABLE: u16 = 1;
pub const NFTA_SET_NAME: u16 = 2;
pub const NFTA_SET_FLAGS: u16 = 3;
pub const NFTA_SET_KEY_TYPE: u16 = 4;
pub const NFTA_SET_KEY_LEN: u16 = 5;
pub const NFTA_SET_DATA_TYPE: u16 = 6;
pub const NFTA_SET_DATA_LEN: u16 = 7;
pub const NFTA_SET_DESC: u16 = 9;
pub const NFTA_SET_DESC_SIZE: u16 = 1;
pub const NFTA_SET_ID: u16 = 10;
pub const NFTA_SET_TIMEOUT: u16 = 11;
pub const NFTA_SET_USERDATA: u16 = 13;
pub const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
pub const NFTA_SET_ELEM_LIST_SET: u16 = 2;
pub const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
pub const NFTA_SET_ELEM_LIST_SET_ID: u16 = 4;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_VERDICT_CHAIN: u16 = 2;

// Set flags and types.
pub const NFT_SET_ANONYMOUS: u32 = 0x1;
pub const NFT_SET_CONSTANT: u32 = 0x2;
pub const NFT_SET_MAP: u32 = 0x8;
pub const NFT_SET_TIMEOUT: u32 = 0x10;
pub const NFT_SET_EVAL: u32 = 0x20;
pub const NFT_DATA_VERDICT: u32 = 0xffff_ff00;
/// nft's data type numbers (what `nft list` prints keys by).
pub const TYPE_INTEGER: u32 = 4;
pub const TYPE_IPADDR: u32 = 7;
pub const TYPE_INET_PROTOCOL: u32 = 12;
pub const TYPE_INET_SERVICE: u32 = 13;
/// nft's encoding of a concatenation's type: each field's type appended in 6 bits.
pub fn concat_type(types: &[u32]) -> u32 {
    types.iter().fold(0, |acc, t| (acc << 6) | t)
}

/// Registers: the verdict, the first 16-byte one, the second, and the 4-byte ones.
pub const REG_VERDICT: u32 = 0;
pub const REG_1: u32 = 1;
pub const REG_2: u32 = 2;
pub const REG32_00: u32 = 8;

/// Verdicts (`NF_DROP`, `NF_ACCEPT`, `NFT_JUMP`…).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Drop,
    Accept,
    Return,
    Jump(String),
    Goto(String),
}

impl Verdict {
    fn code(&self) -> i32 {
        match self {
            Verdict::Drop => 0,
            Verdict::Accept => 1,
            Verdict::Jump(_) => -3,
            Verdict::Goto(_) => -4,
            Verdict::Return => -5,
        }
    }

    fn put(&self, attrs: &mut Attrs) {
        attrs.nested(NFTA_DATA_VERDICT, |v| {
            v.u32(NFTA_VERDICT_CODE, self.code() as u32);
            if let Verdict::Jump(chain) | Verdict::Goto(chain) = self {
                v.string(NFTA_VERDICT_CHAIN, chain);
            }
        });
    }
}

/// A sequence of netlink attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attrs(pub Vec<u8>);

impl Attrs {
    pub fn put(&mut self, kind: u16, data: &[u8]) {
        let len = 4 + data.len();
        self.0.extend_from_slice(&(len as u16).to_ne_bytes());
        self.0.extend_from_slice(&kind.to_ne_bytes());
        self.0.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.0.len().is_multiple_of(4) {
            self.0.push(0);
        }
    }

    /// A 32-bit number, in network byte order as nf_tables wants its attributes.
    pub fn u32(&mut self, kind: u16, value: u32) {
        self.put(kind, &value.to_be_bytes());
    }

    pub fn u64(&mut self, kind: u16, value: u64) {
        self.put(kind, &value.to_be_bytes());
    }

    /// A NUL-terminated string.
    pub fn string(&mut self, kind: u16, value: &str) {
        let mut data = Vec::with_capacity(value.len() + 1);
        data.extend_from_slice(value.as_bytes());
        data.push(0);
        self.put(kind, &data);
    }

    /// An attribute holding attributes; at most 64 KiB (callers keep element lists under
    /// that, and a rule's expressions are far smaller), longer is cut at the limit, which
    /// the kernel refuses.
    pub fn nested(&mut self, kind: u16, fill: impl FnOnce(&mut Attrs)) {
        let start = self.0.len();
        self.0.extend_from_slice(&[0, 0, 0, 0]);
        fill(self);
        let len = u16::try_from(self.0.len() - start).unwrap_or(u16::MAX);
        self.0[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self.0[start + 2..start + 4].copy_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
    }

    /// `nft_data` holding a value.
    pub fn value(&mut self, kind: u16, value: &[u8]) {
        self.nested(kind, |d| d.put(NFTA_DATA_VALUE, value));
    }
}

/// The comparisons of `cmp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq = 0,
    Neq = 1,
}

/// The expressions kedge's rules use, with their registers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// Load `len` bytes at `offset` of header `base` (0 link, 1 network, 2 transport).
    Payload {
        dreg: u32,
        base: u32,
        offset: u32,
        len: u32,
    },
    Cmp {
        sreg: u32,
        op: CmpOp,
        data: Vec<u8>,
    },
    /// Load a meta key (`NFT_META_*`).
    Meta {
        dreg: u32,
        key: u32,
    },
    /// Set a meta key from a register.
    MetaSet {
        sreg: u32,
        key: u32,
    },
    /// `reg = (reg & mask) ^ xor`.
    Bitwise {
        reg: u32,
        mask: Vec<u8>,
        xor: Vec<u8>,
    },
    Immediate {
        dreg: u32,
        data: Vec<u8>,
    },
    Verdict(Verdict),
    /// A set membership test, or with `dreg` a map lookup. `set_id` names a set of the same
    /// batch.
    Lookup {
        set: String,
        set_id: Option<u32>,
        sreg: u32,
        dreg: Option<u32>,
    },
    /// Add or refresh the key in a dynamic set (`update @set { … }`).
    DynsetUpdate {
        set: String,
        set_id: Option<u32>,
        sreg: u32,
    },
    /// DNAT to the address in `addr` and the port in `proto` (registers).
    Dnat {
        family: u8,
        addr: u32,
        proto: u32,
    },
    Masquerade {
        flags: u32,
    },
    /// `type` 0: ICMP unreachable with `code`; 1: TCP reset.
    Reject {
        kind: u32,
        code: u8,
    },
    /// `numgen random mod modulus`.
    NumgenRandom {
        dreg: u32,
        modulus: u32,
    },
    /// The address type of the source (`flags` 1) or destination (2) address.
    FibAddrType {
        dreg: u32,
        flags: u32,
    },
    /// Load a conntrack key (`NFT_CT_*`).
    Ct {
        dreg: u32,
        key: u32,
    },
}

/// `NF_NAT_RANGE_PROTO_SPECIFIED`, as nft sets it for `dnat to addr:port`.
const NF_NAT_RANGE_PROTO_SPECIFIED: u32 = 0x2;

impl Expr {
    fn name(&self) -> &'static str {
        match self {
            Expr::Payload { .. } => "payload",
            Expr::Cmp { .. } => "cmp",
            Expr::Meta { .. } | Expr::MetaSet { .. } => "meta",
            Expr::Bitwise { .. } => "bitwise",
            Expr::Immediate { .. } | Expr::Verdict(_) => "immediate",
            Expr::Lookup { .. } => "lookup",
            Expr::DynsetUpdate { .. } => "dynset",
            Expr::Dnat { .. } => "nat",
            Expr::Masquerade { .. } => "masq",
            Expr::Reject { .. } => "reject",
            Expr::NumgenRandom { .. } => "numgen",
            Expr::FibAddrType { .. } => "fib",
            Expr::Ct { .. } => "ct",
        }
    }

    fn data(&self, a: &mut Attrs) {
        match self {
            Expr::Payload {
                dreg,
                base,
                offset,
                len,
            } => {
                a.u32(1, *dreg);
                a.u32(2, *base);
                a.u32(3, *offset);
                a.u32(4, *len);
            }
            Expr::Cmp { sreg, op, data } => {
                a.u32(1, *sreg);
                a.u32(2, *op as u32);
                a.value(3, data);
            }
            Expr::Meta { dreg, key } => {
                a.u32(2, *key);
                a.u32(1, *dreg);
            }
            Expr::MetaSet { sreg, key } => {
                a.u32(2, *key);
                a.u32(3, *sreg);
            }
            Expr::Bitwise { reg, mask, xor } => {
                a.u32(1, *reg);
                a.u32(2, *reg);
                a.u32(3, mask.len() as u32);
                a.value(4, mask);
                a.value(5, xor);
            }
            Expr::Immediate { dreg, data } => {
                a.u32(1, *dreg);
                a.value(2, data);
            }
            Expr::Verdict(verdict) => {
                a.u32(1, REG_VERDICT);
                a.nested(2, |d| verdict.put(d));
            }
            Expr::Lookup {
                set,
                set_id,
                sreg,
                dreg,
            } => {
                a.string(1, set);
                a.u32(2, *sreg);
                if let Some(dreg) = dreg {
                    a.u32(3, *dreg);
                }
                if let Some(id) = set_id {
                    a.u32(4, *id);
                }
            }
            Expr::DynsetUpdate { set, set_id, sreg } => {
                a.string(1, set);
                if let Some(id) = set_id {
                    a.u32(2, *id);
                }
                a.u32(3, 1);
                a.u32(4, *sreg);
            }
            Expr::Dnat {
                family,
                addr,
                proto,
            } => {
                a.u32(1, 1);
                a.u32(2, u32::from(*family));
                a.u32(3, *addr);
                a.u32(5, *proto);
                a.u32(7, NF_NAT_RANGE_PROTO_SPECIFIED);
            }
            Expr::Masquerade { flags } => {
                if *flags != 0 {
                    a.u32(1, *flags);
                }
            }
            Expr::Reject { kind, code } => {
                a.u32(1, *kind);
                a.put(2, &[*code]);
            }
            Expr::NumgenRandom { dreg, modulus } => {
                a.u32(1, *dreg);
                a.u32(2, *modulus);
                a.u32(3, 1);
                a.u32(4, 0);
            }
            Expr::FibAddrType { dreg, flags } => {
                a.u32(1, *dreg);
                a.u32(2, 3);
                a.u32(3, *flags);
            }
            Expr::Ct { dreg, key } => {
                a.u32(2, *key);
                a.u32(1, *dreg);
            }
        }
    }
}

/// A rule's `NFTA_RULE_EXPRESSIONS`.
pub fn expressions(attrs: &mut Attrs, exprs: &[Expr]) {
    attrs.nested(NFTA_RULE_EXPRESSIONS, |list| {
        for expr in exprs {
            list.nested(NFTA_LIST_ELEM, |e| {
                e.string(1, expr.name());
                e.nested(2, |d| expr.data(d));
            });
        }
    });
}

/// One element of a set or map: its key, and for a map its verdict.
pub fn element(list: &mut Attrs, key: &[u8], verdict: Option<&Verdict>) {
    list.nested(NFTA_LIST_ELEM, |e| {
        e.value(NFTA_SET_ELEM_KEY, key);
        if let Some(verdict) = verdict {
            e.nested(NFTA_SET_ELEM_DATA, |d| verdict.put(d));
        }
    });
}

/// One nf_tables message of a batch, with the script statement it came from (for errors).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub kind: Kind,
    pub flags: u16,
    pub family: u8,
    pub attrs: Attrs,
    pub statement: String,
}

fn header(out: &mut Vec<u8>, kind: u16, flags: u16, sequence: u32, family: u8, res_id: u16) {
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&sequence.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(&[family, 0]);
    out.extend_from_slice(&res_id.to_be_bytes());
}

fn finish(out: &mut [u8], start: usize) {
    let len = (out.len() - start) as u32;
    out[start..start + 4].copy_from_slice(&len.to_ne_bytes());
}

/// One message alone (not batched), as the `nfgen` query is sent.
pub fn single(kind: Kind, flags: u16, sequence: u32) -> Vec<u8> {
    request(NFNL_SUBSYS_NFTABLES, kind as u16, flags, sequence, 0, &[])
}

/// One nfnetlink request of any subsystem (nf_tables, ctnetlink): its header, `nfgenmsg`
/// with `family`, then `attributes`.
pub fn request(
    subsystem: u16,
    message: u16,
    flags: u16,
    sequence: u32,
    family: u8,
    attributes: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(20 + attributes.len());
    header(
        &mut out,
        (subsystem << 8) | message,
        NLM_F_REQUEST | flags,
        sequence,
        family,
        0,
    );
    out.extend_from_slice(attributes);
    finish(&mut out, 0);
    out
}

/// One netlink message of what the kernel sent back.
#[derive(Debug, PartialEq, Eq)]
pub struct Received<'a> {
    pub kind: u16,
    pub sequence: u32,
    /// What follows the netlink header.
    pub body: &'a [u8],
}

impl Received<'_> {
    /// For an `NLMSG_ERROR`, its code: 0 acknowledges, otherwise a negated errno.
    pub fn error_code(&self) -> Option<i32> {
        (self.kind == NLMSG_ERROR).then(|| {
            self.body
                .get(..4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map_or(0, i32::from_ne_bytes)
        })
    }
}

/// The messages of one datagram, in order; a truncated one ends them.
pub fn received(mut data: &[u8]) -> impl Iterator<Item = Received<'_>> {
    std::iter::from_fn(move || {
        let word = |at: usize| {
            data.get(at..at + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
        };
        let len = u32::from_ne_bytes(word(0)?) as usize;
        if len < 16 || len > data.len() {
            return None;
        }
        let message = Received {
            kind: u16::from_ne_bytes([data[4], data[5]]),
            sequence: u32::from_ne_bytes(word(8)?),
            body: &data[16..len],
        };
        data = data.get((len + 3) & !3..).unwrap_or_default();
        Some(message)
    })
}

/// The messages framed as one transaction: batch begin, the messages numbered from
/// `first + 1`, batch end. Only the last message asks for an acknowledgement: errors are
/// reported for any message, and the last one's acknowledgement ends the reply.
pub fn batch(messages: &[Message], first: u32) -> Vec<u8> {
    let size: usize = messages.iter().map(|m| 20 + m.attrs.0.len()).sum();
    let mut out = Vec::with_capacity(size + 40);
    header(
        &mut out,
        NFNL_MSG_BATCH_BEGIN,
        NLM_F_REQUEST,
        first,
        0,
        NFNL_SUBSYS_NFTABLES,
    );
    finish(&mut out, 0);
    let last = messages.len().saturating_sub(1);
    for (i, message) in messages.iter().enumerate() {
        let start = out.len();
        let ack = if i == last { NLM_F_ACK } else { 0 };
        header(
            &mut out,
            (NFNL_SUBSYS_NFTABLES << 8) | message.kind as u16,
            NLM_F_REQUEST | ack | message.flags,
            first.wrapping_add(1 + i as u32),
            message.family,
            0,
        );
        out.extend_from_slice(&message.attrs.0);
        finish(&mut out, start);
    }
    let start = out.len();
    header(
        &mut out,
        NFNL_MSG_BATCH_END,
        NLM_F_REQUEST,
        first.wrapping_add(1 + messages.len() as u32),
        0,
        NFNL_SUBSYS_NFTABLES,
    );
    finish(&mut out, start);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_messages_are_split_and_a_truncated_one_ends_them() {
        // An acknowledgement of 7, a refusal (-ENOENT) of 8, then a truncated message.
        let mut data = Vec::new();
        for (sequence, code) in [(7u32, 0i32), (8, -2)] {
            data.extend_from_slice(&20u32.to_ne_bytes());
            data.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
            data.extend_from_slice(&0u16.to_ne_bytes());
            data.extend_from_slice(&sequence.to_ne_bytes());
            data.extend_from_slice(&0u32.to_ne_bytes());
            data.extend_from_slice(&code.to_ne_bytes());
        }
        data.extend_from_slice(&64u32.to_ne_bytes());
        data.extend_from_slice(&[0; 12]);
        let got: Vec<_> = received(&data)
            .map(|m| (m.sequence, m.error_code()))
            .collect();
        assert_eq!(got, [(7, Some(0)), (8, Some(-2))]);
    }

    #[test]
    fn a_request_carries_its_length_subsystem_and_family() {
        let packet = request(1, 2, NLM_F_ACK, 9, 2, &[0xaa; 4]);
        assert_eq!(packet.len(), 24);
        assert_eq!(u32::from_ne_bytes(packet[0..4].try_into().unwrap()), 24);
        assert_eq!(u16::from_ne_bytes([packet[4], packet[5]]), (1 << 8) | 2);
        assert_eq!(
            u16::from_ne_bytes([packet[6], packet[7]]),
            NLM_F_REQUEST | NLM_F_ACK
        );
        assert_eq!((packet[16], &packet[20..]), (2, &[0xaa; 4][..]));
    }
}
