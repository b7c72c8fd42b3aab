//! The IDX format of MNIST and Fashion-MNIST (big-endian header: magic 0x0000_08_NN with NN the
//! number of dimensions, then one u32 per dimension, then u8 data), raw or gzip-compressed.
use std::io::Read;
use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum IdxError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: bad magic 0x{magic:08x} (expected 0x{expected:08x})")]
    BadMagic {
        path: PathBuf,
        magic: u32,
        expected: u32,
    },
    #[error("{path}: truncated: header says {expected} bytes of data, file has {got}")]
    Truncated {
        path: PathBuf,
        expected: usize,
        got: usize,
    },
    #[error("{path}: {msg}")]
    Invalid { path: PathBuf, msg: String },
}

/// A parsed IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Idx {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads `path`, or `path.gz` when only the compressed file exists.
pub fn read_idx_file(path: &Path, ndim: usize) -> Result<Idx, IdxError> {
    let (real, gz) = if path.exists() {
        (
            path.to_path_buf(),
            path.extension().is_some_and(|e| e == "gz"),
        )
    } else {
        let mut p = path.as_os_str().to_owned();
        p.push(".gz");
        (PathBuf::from(p), true)
    };
    let io = |source| IdxError::Io {
        path: real.clone(),
        source,
    };
    let raw = std::fs::read(&real).map_err(io)?;
    let bytes = if gz {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(io)?;
        out
    } else {
        raw
    };
    parse_idx(&bytes, ndim).map_err(|e| e.with_path(&real))
}

impl IdxError {
    fn with_path(self, p: &Path) -> Self {
        let path = p.to_path_buf();
        match self {
            IdxError::Io { source, .. } => IdxError::Io { path, source },
            IdxError::BadMagic {
                magic, expected, ..
            } => IdxError::BadMagic {
                path,
                magic,
                expected,
            },
            IdxError::Truncated { expected, got, .. } => IdxError::Truncated {
                path,
                expected,
                got,
            },
            IdxError::Invalid { msg, .. } => IdxError::Invalid { path, msg },
        }
    }
}

/// Parses IDX bytes holding u8 data with `ndim` dimensions (1 for labels, 3 for images).
pub fn parse_idx(bytes: &[u8], ndim: usize) -> Result<Idx, IdxError> {
    let path = PathBuf::new();
    let expected_magic = 0x0000_0800u32 | ndim as u32;
    let header = 4 + 4 * ndim;
    if bytes.len() < 4 {
        return Err(IdxError::Truncated {
            path,
            expected: header,
            got: bytes.len(),
        });
    }
    let magic = u32::from_be_bytes(bytes[0..4].try_into().unwrap());
    if magic != expected_magic {
        return Err(IdxError::BadMagic {
            path,
            magic,
            expected: expected_magic,
        });
    }
    if bytes.len() < header {
        return Err(IdxError::Truncated {
            path,
            expected: header,
            got: bytes.len(),
        });
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize)
        .collect();
    let n = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| IdxError::Invalid {
            path: PathBuf::new(),
            msg: format!("dimensions {dims:?} overflow"),
        })?;
    let data = &bytes[header..];
    if data.len() < n {
        return Err(IdxError::Truncated {
            path: PathBuf::new(),
            expected: n,
            got: data.len(),
        });
    }
    if data.len() > n {
        return Err(IdxError::Invalid {
            path: PathBuf::new(),
            msg: format!(
                "{} bytes after the {} the header announces",
                data.len() - n,
                n
            ),
        });
    }
    Ok(Idx {
        dims,
        data: data.to_vec(),
    })
}

/// Encodes u8 data as IDX (used by tests and fixtures).
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 4 * dims.len() + data.len());
    out.extend_from_slice(&(0x0000_0800u32 | dims.len() as u32).to_be_bytes());
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let bytes = encode_idx(&[2, 2, 3], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        let idx = parse_idx(&bytes, 3).unwrap();
        assert_eq!(idx.dims, vec![2, 2, 3]);
        assert_eq!(idx.data[11], 12);
    }

    #[test]
    fn errors_name_the_problem() {
        let bytes = encode_idx(&[3], &[1, 2, 3]);
        assert!(matches!(
            parse_idx(&bytes, 3),
            Err(IdxError::BadMagic { .. })
        ));
        assert!(matches!(
            parse_idx(&bytes[..5], 1),
            Err(IdxError::Truncated { .. })
        ));
        assert!(matches!(
            parse_idx(&bytes[..10], 1),
            Err(IdxError::Truncated {
                expected: 3,
                got: 2,
                ..
            })
        ));
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(parse_idx(&long, 1), Err(IdxError::Invalid { .. })));
        assert!(parse_idx(&[], 1).is_err());
    }
}
