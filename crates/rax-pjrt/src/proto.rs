//! A tiny protobuf wire-format encoder (varints, length-delimited fields),
//! enough to hand-encode `xla.CompileOptionsProto`.

/// Appends protobuf messages to a byte vector.
#[derive(Debug, Default, Clone)]
pub struct ProtoWriter {
    buf: Vec<u8>,
}

const WIRE_VARINT: u32 = 0;
const WIRE_LEN: u32 = 2;

impl ProtoWriter {
    /// An empty message.
    pub fn new() -> Self {
        Self::default()
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn tag(&mut self, field: u32, wire: u32) {
        self.varint(u64::from((field << 3) | wire));
    }

    /// `int64`/`int32` field (negative values use 10-byte two's complement,
    /// as protobuf does for both).
    pub fn int64(&mut self, field: u32, v: i64) -> &mut Self {
        self.tag(field, WIRE_VARINT);
        self.varint(v as u64);
        self
    }

    /// `bool` field.
    pub fn bool(&mut self, field: u32, v: bool) -> &mut Self {
        self.tag(field, WIRE_VARINT);
        self.varint(u64::from(v));
        self
    }

    /// Length-delimited bytes (also used for embedded messages).
    pub fn bytes(&mut self, field: u32, v: &[u8]) -> &mut Self {
        self.tag(field, WIRE_LEN);
        self.varint(v.len() as u64);
        self.buf.extend_from_slice(v);
        self
    }

    /// Embedded message.
    pub fn message(&mut self, field: u32, m: &ProtoWriter) -> &mut Self {
        self.bytes(field, &m.buf)
    }

    /// Packed `repeated int64`.
    pub fn packed_int64(&mut self, field: u32, values: &[i64]) -> &mut Self {
        let mut inner = ProtoWriter::new();
        for &v in values {
            inner.varint(v as u64);
        }
        self.bytes(field, &inner.buf)
    }

    /// The encoded bytes.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }

    /// The encoded bytes so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_protoc() {
        let mut w = ProtoWriter::new();
        w.int64(1, 150);
        assert_eq!(w.as_bytes(), &[0x08, 0x96, 0x01]);
        let mut w = ProtoWriter::new();
        w.int64(2, -1);
        assert_eq!(w.as_bytes().len(), 11);
        let mut inner = ProtoWriter::new();
        inner.int64(4, 1);
        let mut outer = ProtoWriter::new();
        outer.message(3, &inner);
        assert_eq!(outer.finish(), vec![0x1a, 0x02, 0x20, 0x01]);
        let mut w = ProtoWriter::new();
        w.packed_int64(1, &[3, 270]);
        assert_eq!(w.finish(), vec![0x0a, 0x03, 0x03, 0x8e, 0x02]);
    }
}
