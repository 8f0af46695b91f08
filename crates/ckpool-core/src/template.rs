//! getblocktemplate replies read without building thousands of JavaScript objects.
//!
//! On a block change the pool's critical path is: fetch the template, parse it, hash
//! its txids into the merkle branch, notify miners. With 4000 transactions the reply is
//! ~3.8 MB of JSON; `JSON.parse` turns it into 4000 objects and 12,000 strings that the
//! pool then keeps for as long as the workbase lives (garbage-collector work on the
//! critical path of every later block change). Here the reply is parsed borrowing from
//! the body, in one pass: only the txids and wtxids are decoded (into internal byte
//! order, ready for `merkle::branch` and the witness commitment), the template's other
//! fields come back as a small JSON text, and each transaction's `data` as a byte range
//! of the body, for the rare callers that need the raw transactions (a solved block,
//! `mining.get_transactions`).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{CoreError, Result};

/// A getblocktemplate reply, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedTemplate {
    /// The `result` object without `transactions`, as JSON text.
    pub fields: String,
    /// Where each transaction's `data` hex is in the body: start, end, start, end, …
    pub data: Vec<u32>,
    /// Number of transactions.
    pub count: usize,
    /// txids, 32 bytes each, internal order (the reverse of RPC order).
    pub txids: Vec<u8>,
    /// wtxids (`hash`; the txid when absent), 32 bytes each, internal order.
    pub wtxids: Vec<u8>,
}

/// The reply with the result's members as raw JSON: one pass over the body.
#[derive(Deserialize)]
struct Reply<'a> {
    #[serde(borrow, default)]
    result: Option<Members<'a>>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

/// `result`: its members other than `transactions` as (name, raw value) in order, and
/// the transactions themselves — all in one pass over the body (a map visitor).
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>, Option<Vec<Tx<'a>>>);

impl<'de: 'a, 'a> Deserialize<'de> for Members<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Members<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("the getblocktemplate result object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, mut m: M) -> std::result::Result<Self::Value, M::Error> {
                let mut out = Vec::with_capacity(32);
                let mut txs = None;
                while let Some(k) = m.next_key::<Cow<'de, str>>()? {
                    if k == "transactions" {
                        txs = Some(m.next_value::<Vec<Tx<'de>>>()?);
                    } else {
                        out.push((k, m.next_value::<&'de RawValue>()?));
                    }
                }
                Ok(Members(out, txs))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct Tx<'a> {
    /// borrowed: raw transaction hex has no escapes (one that does is not taken here)
    #[serde(borrow)]
    data: &'a str,
    #[serde(borrow, default)]
    txid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    hash: Option<Cow<'a, str>>,
}

/// 64 hex digits (display order) → 32 bytes appended in internal order.
fn display_hash(what: &'static str, hex: &str, out: &mut Vec<u8>) -> Result<()> {
    let h = hex.as_bytes();
    if h.len() != 64 {
        return Err(CoreError::Hex { what, detail: format!("expected 64 hex digits, got {}", h.len()) });
    }
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => 0xff,
        }
    }
    let mut b = [0u8; 32];
    let mut bad = 0u8;
    for i in 0..32 {
        // byte i of the display string is byte 31 - i in internal order
        let (hi, lo) = (nibble(h[2 * i]), nibble(h[2 * i + 1]));
        bad |= hi | lo;
        b[31 - i] = (hi << 4) | (lo & 0x0f);
    }
    if bad & 0xf0 != 0 {
        return Err(CoreError::Hex { what, detail: "not hex".into() });
    }
    out.extend_from_slice(&b);
    Ok(())
}

fn template_err(detail: impl Into<String>) -> CoreError {
    CoreError::Arg { what: "getblocktemplate reply", detail: detail.into() }
}

/// Take apart a JSON-RPC getblocktemplate reply body. `Ok(None)` when the body is a
/// well-formed reply that is not a plain result object (an RPC error, a null result):
/// the caller then reads it the ordinary way, with its usual error handling.
pub fn parse_reply(body: &[u8]) -> Result<Option<ParsedTemplate>> {
    let text = std::str::from_utf8(body).map_err(|e| template_err(format!("not UTF-8: {e}")))?;
    let reply: Reply = serde_json::from_str(text).map_err(|e| template_err(format!("not a JSON-RPC template reply: {e}")))?;
    if reply.error.is_some_and(|e| e.get() != "null") {
        return Ok(None);
    }
    let Some(Members(entries, txs)) = reply.result else { return Ok(None) };
    let mut fields = String::with_capacity(1024);
    fields.push('{');
    for (k, v) in &entries {
        if fields.len() > 1 {
            fields.push(',');
        }
        fields.push_str(&serde_json::to_string(k.as_ref()).map_err(|e| template_err(e.to_string()))?);
        fields.push(':');
        fields.push_str(v.get());
    }
    fields.push('}');
    let txs = txs.ok_or_else(|| template_err("transactions missing"))?;
    let mut txids = Vec::with_capacity(32 * txs.len());
    let mut wtxids = Vec::with_capacity(32 * txs.len());
    let mut data = Vec::with_capacity(2 * txs.len());
    let base = body.as_ptr() as usize;
    for (i, tx) in txs.iter().enumerate() {
        let txid = tx.txid.as_deref().or(tx.hash.as_deref()).ok_or_else(|| template_err(format!("transactions[{i}] lacks data or txid")))?;
        display_hash("transactions[].txid", txid, &mut txids).map_err(|e| template_err(format!("transactions[{i}].txid: {e}")))?;
        let wtxid = tx.hash.as_deref().unwrap_or(txid);
        display_hash("transactions[].hash", wtxid, &mut wtxids).map_err(|e| template_err(format!("transactions[{i}].hash: {e}")))?;
        let start = tx.data.as_ptr() as usize - base;
        data.push(start as u32);
        data.push((start + tx.data.len()) as u32);
    }
    Ok(Some(ParsedTemplate { fields, data, count: txs.len(), txids, wtxids }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"result":{"version":536870912,"previousblockhash":"00aa","transactions":[
        {"data":"0100","txid":"0000000000000000000000000000000000000000000000000000000000000001","hash":"0000000000000000000000000000000000000000000000000000000000000002","fee":1},
        {"data":"0200","txid":"1000000000000000000000000000000000000000000000000000000000000000"}],
        "coinbasevalue":5000000000,"bits":"207fffff","coinbaseaux":{"flags":""}},"error":null,"id":1}"#;

    #[test]
    fn takes_a_template_apart() {
        let p = parse_reply(BODY.as_bytes()).unwrap().unwrap();
        assert_eq!(p.count, 2);
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(&p.txids[..32], &one);
        let mut two = [0u8; 32];
        two[0] = 2;
        assert_eq!(&p.wtxids[..32], &two);
        // a missing hash means wtxid = txid
        assert_eq!(&p.wtxids[32..], &p.txids[32..]);
        assert_eq!(p.txids[63], 0x10);
        let fields: serde_json::Value = serde_json::from_str(&p.fields).unwrap();
        assert_eq!(fields["coinbasevalue"], 5000000000u64);
        assert!(fields.get("transactions").is_none());
        assert_eq!(&BODY[p.data[0] as usize..p.data[1] as usize], "0100");
        assert_eq!(&BODY[p.data[2] as usize..p.data[3] as usize], "0200");
    }

    #[test]
    fn errors_and_odd_replies() {
        assert_eq!(parse_reply(br#"{"result":null,"error":{"code":-10,"message":"x"},"id":1}"#).unwrap(), None);
        assert_eq!(parse_reply(br#"{"result":null,"error":null,"id":1}"#).unwrap(), None);
        assert!(parse_reply(b"not json").is_err());
        assert!(parse_reply(br#"{"result":{"bits":"1"},"error":null}"#).is_err());
        let bad = BODY.replace("0000000000000000000000000000000000000000000000000000000000000001", "zz");
        assert!(parse_reply(bad.as_bytes()).is_err());
        let nodata = BODY.replace(r#""data":"0100","#, r#""data":5,"#);
        assert!(parse_reply(nodata.as_bytes()).is_err());
    }
}
