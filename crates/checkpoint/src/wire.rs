//! The protobuf wire format, as far as CRIU's images need it: varints, length-delimited fields
//! and the two fixed widths (skipped). Every read is bounds-checked; nothing allocates.

/// Why a message's bytes are not protobuf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireError {
    Truncated,
    /// A varint longer than ten bytes, or one that does not fit 64 bits.
    Varint,
    /// Groups (wire types 3 and 4) and the unused types 6 and 7: CRIU never writes them.
    WireType(u8),
    FieldZero,
    /// More values of a repeated field than the reader takes.
    TooMany,
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Truncated => f.write_str("a protobuf field runs past the end of its message"),
            WireError::Varint => f.write_str("a protobuf varint is longer than 64 bits"),
            WireError::WireType(kind) => write!(f, "protobuf wire type {kind} is not used by CRIU"),
            WireError::FieldZero => f.write_str("a protobuf field numbered 0"),
            WireError::TooMany => f.write_str("more values in a repeated field than kir reads"),
        }
    }
}

/// One field's value as the wire carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    /// Fixed 32- and 64-bit values: no field kir reads has one, so only their presence is kept.
    Fixed,
}

impl<'a> Value<'a> {
    pub(crate) fn varint(self) -> Option<u64> {
        match self {
            Value::Varint(value) => Some(value),
            _ => None,
        }
    }

    /// A `uint32` field; a larger varint is not one.
    pub(crate) fn uint32(self) -> Option<u32> {
        self.varint().and_then(|value| u32::try_from(value).ok())
    }

    pub(crate) fn bytes(self) -> Option<&'a [u8]> {
        match self {
            Value::Bytes(bytes) => Some(bytes),
            _ => None,
        }
    }
}

/// Reads one varint from the front of `bytes`, returning it and the rest.
pub(crate) fn read_varint(bytes: &[u8]) -> Result<(u64, &[u8]), WireError> {
    let mut value = 0u64;
    for (index, &byte) in bytes.iter().enumerate().take(10) {
        let low = u64::from(byte & 0x7f);
        // The tenth byte may carry only the top bit of a 64-bit value.
        if index == 9 && low > 1 {
            return Err(WireError::Varint);
        }
        value |= low << (7 * index);
        if byte & 0x80 == 0 {
            return Ok((value, &bytes[index + 1..]));
        }
    }
    if bytes.len() >= 10 { Err(WireError::Varint) } else { Err(WireError::Truncated) }
}

/// The fields of one message, in wire order.
pub(crate) struct Fields<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(message: &'a [u8]) -> Self {
        Fields { rest: message, failed: false }
    }

    fn field(&mut self) -> Result<(u32, Value<'a>), WireError> {
        let (key, rest) = read_varint(self.rest)?;
        let number = u32::try_from(key >> 3).map_err(|_| WireError::Varint)?;
        if number == 0 {
            return Err(WireError::FieldZero);
        }
        let (value, rest) = match key & 7 {
            0 => {
                let (value, rest) = read_varint(rest)?;
                (Value::Varint(value), rest)
            }
            1 => (Value::Fixed, rest.get(8..).ok_or(WireError::Truncated)?),
            2 => {
                let (length, rest) = read_varint(rest)?;
                let length = usize::try_from(length).map_err(|_| WireError::Truncated)?;
                if length > rest.len() {
                    return Err(WireError::Truncated);
                }
                let (bytes, rest) = rest.split_at(length);
                (Value::Bytes(bytes), rest)
            }
            5 => (Value::Fixed, rest.get(4..).ok_or(WireError::Truncated)?),
            other => return Err(WireError::WireType(other as u8)),
        };
        self.rest = rest;
        Ok((number, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Value<'a>), WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let field = self.field();
        self.failed = field.is_err();
        Some(field)
    }
}

/// Appends a repeated `uint32` field's values, whether the writer packed them or not; more
/// than `cap` in `out` is an error. Values past 32 bits are not `uint32`s and are skipped.
pub(crate) fn push_uint32s(value: Value<'_>, out: &mut Vec<u32>, cap: usize) -> Result<(), WireError> {
    let mut push = |number: u64| {
        if let Ok(number) = u32::try_from(number) {
            if out.len() >= cap {
                return Err(WireError::TooMany);
            }
            out.push(number);
        }
        Ok(())
    };
    match value {
        Value::Varint(number) => push(number)?,
        Value::Bytes(mut packed) => {
            while !packed.is_empty() {
                let (number, rest) = read_varint(packed)?;
                push(number)?;
                packed = rest;
            }
        }
        Value::Fixed => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_decode_and_overlong_ones_are_refused() {
        assert_eq!(read_varint(&[0x96, 0x01, 0xff]), Ok((150, &[0xff][..])));
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(read_varint(&max), Ok((u64::MAX, &[][..])));
        let too_big = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(read_varint(&too_big), Err(WireError::Varint));
        assert_eq!(read_varint(&[0x80; 11]), Err(WireError::Varint));
        assert_eq!(read_varint(&[0x80, 0x80]), Err(WireError::Truncated));
        assert_eq!(read_varint(&[]), Err(WireError::Truncated));
    }

    #[test]
    fn fields_stop_at_the_first_error() {
        // Field 1 varint 5, then field 2 claiming 9 bytes where 1 remains.
        let message = [0x08, 0x05, 0x12, 0x09, 0x41];
        let fields: Vec<_> = Fields::new(&message).collect();
        assert_eq!(fields, vec![Ok((1, Value::Varint(5))), Err(WireError::Truncated)]);
        assert_eq!(Fields::new(&[0x0b]).collect::<Vec<_>>(), vec![Err(WireError::WireType(3))]);
        assert_eq!(Fields::new(&[0x00, 0x01]).collect::<Vec<_>>(), vec![Err(WireError::FieldZero)]);
    }

    #[test]
    fn repeated_uint32_reads_packed_and_unpacked_within_its_cap() {
        let mut out = Vec::new();
        push_uint32s(Value::Varint(7), &mut out, 3).unwrap();
        push_uint32s(Value::Bytes(&[0x01, 0x96, 0x01]), &mut out, 3).unwrap();
        assert_eq!(out, vec![7, 1, 150]);
        assert_eq!(push_uint32s(Value::Varint(2), &mut out, 3), Err(WireError::TooMany));
        assert_eq!(push_uint32s(Value::Bytes(&[0x80]), &mut out, 9), Err(WireError::Truncated));
    }
}
