//! The core's error type. Every fallible function returns `Result<_, CoreError>`;
//! the N-API binding maps each variant once to a stable string code
//! (`CKP_ERR_NATIVE_*`, listed with all other codes in ts/errors.ts).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreError {
    /// A byte string has the wrong length (`what` names the argument).
    Length { what: &'static str, expected: String, got: usize },
    /// A hex string is malformed.
    Hex { what: &'static str, detail: String },
    /// A numeric value is outside what the operation accepts.
    Range { what: &'static str, detail: String },
    /// Any other invalid argument (empty list, inconsistent parameters...).
    Arg { what: &'static str, detail: String },
    /// An operating-system call failed (the binding's socket handover).
    Io { what: &'static str, detail: String },
}

impl CoreError {
    /// The stable code exposed to JavaScript as `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::Length { .. } => "CKP_ERR_NATIVE_LENGTH",
            CoreError::Hex { .. } => "CKP_ERR_NATIVE_HEX",
            CoreError::Range { .. } => "CKP_ERR_NATIVE_RANGE",
            CoreError::Arg { .. } => "CKP_ERR_NATIVE_ARG",
            CoreError::Io { .. } => "CKP_ERR_NATIVE_IO",
        }
    }

    pub(crate) fn length(what: &'static str, expected: impl Into<String>, got: usize) -> Self {
        CoreError::Length { what, expected: expected.into(), got }
    }
    pub(crate) fn range(what: &'static str, detail: impl Into<String>) -> Self {
        CoreError::Range { what, detail: detail.into() }
    }
    pub(crate) fn arg(what: &'static str, detail: impl Into<String>) -> Self {
        CoreError::Arg { what, detail: detail.into() }
    }
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoreError::Length { what, expected, got } => {
                write!(f, "{what}: expected {expected} bytes, got {got}")
            }
            CoreError::Hex { what, detail } => write!(f, "{what}: {detail}"),
            CoreError::Range { what, detail } => write!(f, "{what}: {detail}"),
            CoreError::Arg { what, detail } => write!(f, "{what}: {detail}"),
            CoreError::Io { what, detail } => write!(f, "{what}: {detail}"),
        }
    }
}

impl std::error::Error for CoreError {}

pub type Result<T> = std::result::Result<T, CoreError>;

/// Decode hex (either case). Used by tests and by callers holding RPC strings.
pub fn hex_decode(what: &'static str, s: &str) -> Result<Vec<u8>> {
    let b = s.as_bytes();
    if b.len() % 2 != 0 {
        return Err(CoreError::Hex { what, detail: format!("odd length {}", b.len()) });
    }
    let nib = |c: u8, i: usize| -> Result<u8> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(CoreError::Hex { what, detail: format!("bad character at {i}") }),
        }
    };
    (0..b.len() / 2)
        .map(|i| Ok((nib(b[2 * i], 2 * i)? << 4) | nib(b[2 * i + 1], 2 * i + 1)?))
        .collect()
}

pub fn hex_encode(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &x in bytes {
        s.push(H[(x >> 4) as usize] as char);
        s.push(H[(x & 15) as usize] as char);
    }
    s
}
