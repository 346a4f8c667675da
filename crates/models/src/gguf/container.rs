//! The GGUF container (llama.cpp's `gguf.md`): a little-endian header (`GGUF`, version 2 or 3,
//! tensor count, metadata count), typed metadata key/values, tensor infos (name, shape with the
//! fastest-varying dimension first, GGML type, offset), then the tensor data, each tensor at
//! its offset from the data section's start, which is aligned to `general.alignment` (32).
//!
//! The format is small and fixed, so this module reads it directly instead of taking a
//! dependency: the crates that read GGUF are either inference engines (candle) far larger than
//! the reader, or small parsers that are not kept up.

use std::collections::BTreeMap;
use std::path::Path;

use super::quant::GgmlType;
use crate::error::{ModelError, Result};

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;

/// A metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
}

impl Value {
    /// An integer of any width, as u64 (`None` for a negative or a non-integer value).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::U8(v) => Some(v.into()),
            Self::U16(v) => Some(v.into()),
            Self::U32(v) => Some(v.into()),
            Self::U64(v) => Some(v),
            Self::I8(v) => u64::try_from(v).ok(),
            Self::I16(v) => u64::try_from(v).ok(),
            Self::I32(v) => u64::try_from(v).ok(),
            Self::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// A float or an integer, as f64.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Self::F32(v) => Some(v.into()),
            Self::F64(v) => Some(v),
            Self::I8(v) => Some(v.into()),
            Self::I16(v) => Some(v.into()),
            Self::I32(v) => Some(v.into()),
            Self::I64(v) => Some(v as f64),
            _ => self.as_u64().map(|v| v as f64),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Self::Array(values) => Some(values),
            _ => None,
        }
    }
}

/// One tensor's entry in the header.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// GGUF order: the fastest-varying dimension first (`[in, out]` for a linear weight).
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    /// Offset from the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    /// The number of values, `None` when the shape's product overflows (a corrupt file).
    pub fn elements(&self) -> Option<u64> {
        self.dims.iter().try_fold(1u64, |n, &d| n.checked_mul(d))
    }

    /// The shape in row-major order (slowest dimension first), as PyTorch and burn write it.
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }
}

/// A parsed GGUF file held in memory.
#[derive(Debug)]
pub struct GgufFile {
    pub version: u32,
    pub metadata: BTreeMap<String, Value>,
    pub tensors: Vec<TensorInfo>,
    data: Vec<u8>,
    data_start: usize,
    path: String,
}

/// A little-endian cursor over the file's bytes; every read names what it was reading.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    path: &'a str,
}

impl<'a> Reader<'a> {
    fn fail(&self, what: &str) -> ModelError {
        ModelError::Checkpoint {
            path: self.path.into(),
            reason: format!("GGUF: {what} at byte {}", self.at),
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| self.fail(&format!("the file ends inside {what}")))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A count that must fit what is left of the file (at least one byte per item), so a
    /// corrupt count fails here instead of asking for an absurd allocation.
    fn count(&mut self, what: &str) -> Result<usize> {
        let n = self.u64(what)?;
        let left = (self.bytes.len() - self.at) as u64;
        if n > left {
            return Err(self.fail(&format!("{what} {n} exceeds the {left} bytes left")));
        }
        Ok(n as usize)
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let n = self.count(what)?;
        let bytes = self.take(n, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.fail(&format!("{what} is not UTF-8")))
    }

    fn value(&mut self, ty: u32, key: &str, depth: usize) -> Result<Value> {
        let what = format!("the value of `{key}`");
        Ok(match ty {
            0 => Value::U8(self.array::<1>(&what)?[0]),
            1 => Value::I8(self.array::<1>(&what)?[0] as i8),
            2 => Value::U16(u16::from_le_bytes(self.array(&what)?)),
            3 => Value::I16(i16::from_le_bytes(self.array(&what)?)),
            4 => Value::U32(self.u32(&what)?),
            5 => Value::I32(i32::from_le_bytes(self.array(&what)?)),
            6 => Value::F32(f32::from_le_bytes(self.array(&what)?)),
            7 => match self.array::<1>(&what)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                other => return Err(self.fail(&format!("`{key}`: bool byte {other}"))),
            },
            8 => Value::String(self.string(&what)?),
            9 => {
                if depth > 8 {
                    return Err(self.fail(&format!("`{key}`: arrays nested too deep")));
                }
                let item = self.u32(&what)?;
                let n = self.count(&what)?;
                let mut items = Vec::with_capacity(n.min(1 << 20));
                for _ in 0..n {
                    items.push(self.value(item, key, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64(&what)?),
            11 => Value::I64(i64::from_le_bytes(self.array(&what)?)),
            12 => Value::F64(f64::from_le_bytes(self.array(&what)?)),
            other => return Err(self.fail(&format!("`{key}`: unknown value type {other}"))),
        })
    }
}

impl GgufFile {
    /// Reads and parses `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let data = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
        Self::parse(data, &path.display().to_string())
    }

    /// Parses the bytes of a GGUF file (`path` names it in errors).
    pub fn parse(data: Vec<u8>, path: &str) -> Result<Self> {
        let mut r = Reader {
            bytes: &data,
            at: 0,
            path,
        };
        if r.take(4, "the magic")? != MAGIC {
            return Err(r.fail("not a GGUF file (no `GGUF` magic)"));
        }
        let version = r.u32("the version")?;
        if !(2..=3).contains(&version) {
            return Err(r.fail(&format!("version {version} (this reader knows 2 and 3)")));
        }
        let tensor_count = r.count("the tensor count")?;
        let kv_count = r.count("the metadata count")?;
        let mut metadata = BTreeMap::new();
        for _ in 0..kv_count {
            let key = r.string("a metadata key")?;
            let ty = r.u32(&format!("the type of `{key}`"))?;
            let value = r.value(ty, &key, 0)?;
            metadata.insert(key, value);
        }
        let mut tensors = Vec::with_capacity(tensor_count);
        for _ in 0..tensor_count {
            let name = r.string("a tensor name")?;
            let n_dims = r.u32(&format!("the rank of `{name}`"))?;
            if n_dims > 8 {
                return Err(r.fail(&format!("`{name}` has rank {n_dims}")));
            }
            let dims = (0..n_dims)
                .map(|_| r.u64(&format!("the shape of `{name}`")))
                .collect::<Result<Vec<_>>>()?;
            let id = r.u32(&format!("the type of `{name}`"))?;
            let ty = GgmlType::from_id(id).ok_or_else(|| {
                r.fail(&format!(
                    "`{name}` has GGML type {id}, which this reader does not know"
                ))
            })?;
            let offset = r.u64(&format!("the offset of `{name}`"))?;
            tensors.push(TensorInfo {
                name,
                dims,
                ty,
                offset,
            });
        }
        let alignment = match metadata.get("general.alignment") {
            Some(v) => v
                .as_u64()
                .filter(|a| *a > 0)
                .ok_or_else(|| r.fail("general.alignment is not a positive integer"))?,
            None => DEFAULT_ALIGNMENT,
        };
        let data_start = (r.at as u64)
            .div_ceil(alignment)
            .checked_mul(alignment)
            .filter(|&start| start <= data.len() as u64)
            .ok_or_else(|| {
                r.fail(&format!(
                    "general.alignment {alignment} puts the data past the end"
                ))
            })?;
        let file = Self {
            version,
            metadata,
            tensors,
            data_start: data_start as usize,
            path: path.to_string(),
            data: Vec::new(),
        };
        file.check_extents(data.len())?;
        Ok(Self { data, ..file })
    }

    /// Every tensor's bytes lie inside the file.
    fn check_extents(&self, len: usize) -> Result<()> {
        for t in &self.tensors {
            let bytes = self.byte_len(t)?;
            let end = (self.data_start as u64)
                .checked_add(t.offset)
                .and_then(|start| start.checked_add(bytes as u64));
            if end.is_none_or(|end| end > len as u64) {
                return Err(self.error(format!(
                    "tensor `{}` ({} {:?}) runs past the end of the file",
                    t.name,
                    t.ty.name(),
                    t.dims
                )));
            }
        }
        Ok(())
    }

    fn error(&self, reason: String) -> ModelError {
        ModelError::Checkpoint {
            path: self.path.clone().into(),
            reason: format!("GGUF: {reason}"),
        }
    }

    fn byte_len(&self, t: &TensorInfo) -> Result<usize> {
        let elements = t
            .elements()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                self.error(format!(
                    "tensor `{}` has the shape {:?}, whose size overflows",
                    t.name, t.dims
                ))
            })?;
        t.ty.bytes_for(elements).ok_or_else(|| {
            self.error(format!(
                "tensor `{}` has {elements} values, not a whole number of {} blocks of {} \
                 (or more bytes than can be addressed)",
                t.name,
                t.ty.name(),
                t.ty.block_size()
            ))
        })
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The raw bytes of a tensor (checked to lie inside the file when it was parsed).
    pub fn tensor_bytes(&self, t: &TensorInfo) -> Result<&[u8]> {
        let start = self.data_start + t.offset as usize;
        Ok(&self.data[start..start + self.byte_len(t)?])
    }

    /// A tensor dequantized to f32, in row-major order of [`TensorInfo::shape`].
    pub fn dequantize(&self, t: &TensorInfo) -> Result<Vec<f32>> {
        Ok(super::quant::dequantize(t.ty, self.tensor_bytes(t)?))
    }

    /// A metadata value, or an error naming the missing key.
    pub fn get(&self, key: &str) -> Result<&Value> {
        self.metadata
            .get(key)
            .ok_or_else(|| self.error(format!("no metadata key `{key}`")))
    }

    pub fn get_u64(&self, key: &str) -> Result<u64> {
        self.get(key)?
            .as_u64()
            .ok_or_else(|| self.error(format!("`{key}` is not a non-negative integer")))
    }

    pub fn get_f64(&self, key: &str) -> Result<f64> {
        self.get(key)?
            .as_f64()
            .ok_or_else(|| self.error(format!("`{key}` is not a number")))
    }

    pub fn get_str(&self, key: &str) -> Result<&str> {
        self.get(key)?
            .as_str()
            .ok_or_else(|| self.error(format!("`{key}` is not a string")))
    }

    pub fn path(&self) -> &str {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GGUF v3 file with the given metadata bytes and one F32 tensor `w` of shape [2, 3].
    fn file_with(metadata: &[(&str, u32, Vec<u8>)], alignment: usize) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(b"GGUF");
        out.extend(3u32.to_le_bytes());
        out.extend(1u64.to_le_bytes());
        out.extend((metadata.len() as u64).to_le_bytes());
        for (key, ty, value) in metadata {
            out.extend((key.len() as u64).to_le_bytes());
            out.extend(key.as_bytes());
            out.extend(ty.to_le_bytes());
            out.extend(value);
        }
        out.extend(1u64.to_le_bytes());
        out.extend(b"w");
        out.extend(2u32.to_le_bytes());
        out.extend(3u64.to_le_bytes());
        out.extend(2u64.to_le_bytes());
        out.extend(0u32.to_le_bytes());
        out.extend(0u64.to_le_bytes());
        while out.len() % alignment != 0 {
            out.push(0);
        }
        for v in 0..6 {
            out.extend((v as f32).to_le_bytes());
        }
        out
    }

    fn string_value(s: &str) -> Vec<u8> {
        let mut v = (s.len() as u64).to_le_bytes().to_vec();
        v.extend(s.as_bytes());
        v
    }

    #[test]
    fn reads_metadata_of_every_kind_and_a_tensor_at_its_alignment() {
        let mut array = 4u32.to_le_bytes().to_vec();
        array.extend(2u64.to_le_bytes());
        array.extend(7u32.to_le_bytes());
        array.extend(9u32.to_le_bytes());
        let bytes = file_with(
            &[
                ("general.architecture", 8, string_value("llama")),
                ("general.alignment", 4, 64u32.to_le_bytes().to_vec()),
                ("x.eps", 6, 1e-5f32.to_le_bytes().to_vec()),
                ("x.flag", 7, vec![1]),
                ("x.ids", 9, array),
                ("x.big", 10, 5u64.to_le_bytes().to_vec()),
            ],
            64,
        );
        let file = GgufFile::parse(bytes, "test.gguf").unwrap();
        assert_eq!(file.version, 3);
        assert_eq!(file.get_str("general.architecture").unwrap(), "llama");
        assert_eq!(file.get_u64("x.big").unwrap(), 5);
        assert!((file.get_f64("x.eps").unwrap() - 1e-5).abs() < 1e-12);
        assert_eq!(file.metadata["x.flag"], Value::Bool(true));
        assert_eq!(
            file.metadata["x.ids"].as_array().unwrap(),
            &[Value::U32(7), Value::U32(9)]
        );
        let w = file.tensor("w").unwrap();
        assert_eq!(w.shape(), vec![2, 3]);
        assert_eq!(
            file.dequantize(w).unwrap(),
            vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
        );
        let missing = file.get("x.none").unwrap_err().to_string();
        assert!(
            missing.contains("x.none") && missing.contains("test.gguf"),
            "{missing}"
        );
    }

    #[test]
    fn corrupt_files_are_errors_that_say_where() {
        let good = file_with(&[("a", 8, string_value("b"))], 32);
        for cut in [3, 10, 30, good.len() - 1] {
            let error = GgufFile::parse(good[..cut].to_vec(), "cut.gguf").unwrap_err();
            assert!(error.to_string().contains("cut.gguf"), "{error}");
        }
        let mut bad_magic = good.clone();
        bad_magic[0] = b'X';
        assert!(
            GgufFile::parse(bad_magic, "m.gguf")
                .unwrap_err()
                .to_string()
                .contains("magic")
        );
        // A string length far past the end of the file.
        let mut huge = good.clone();
        huge[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(GgufFile::parse(huge, "h.gguf").is_err());
        // An unknown value type.
        let unknown = file_with(&[("a", 99, vec![])], 32);
        let error = GgufFile::parse(unknown, "u.gguf").unwrap_err().to_string();
        assert!(error.contains("unknown value type 99"), "{error}");
    }
}
