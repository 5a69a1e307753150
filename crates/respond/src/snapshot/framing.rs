//! Whether a tar stream from a container is whole: its framing is followed block by block as
//! the bytes go by (headers, their checksums and sizes, the bodies they announce, the two zero
//! blocks that end the archive), without keeping or extracting anything. A stream that stops
//! before its end is told apart from a complete one, whatever the container put in it. A tar
//! that arrives as one zstd frame (compressed where it was read) is decoded on the way for
//! that, its frame end and checksum checked; nothing decoded is kept.

use zstd::stream::raw::{DParameter, Decoder, InBuffer, Operation, OutBuffer};

/// tar works in blocks of 512 bytes: a header, then the body padded to whole blocks.
const BLOCK: u64 = 512;

/// How a tar stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TarEnd {
    /// The end-of-archive blocks arrived after whole entries.
    Complete { entries: u64 },
    /// The stream stopped before the end of the archive.
    Cut(String),
    /// Not tar framing (a bad checksum, an impossible size): the container sent something else.
    Malformed(String),
}

/// Follows the framing of a tar stream fed in pieces of any size.
#[derive(Debug, Clone, Default)]
pub struct TarFraming {
    /// The header being assembled.
    header: Vec<u8>,
    /// Bytes of the current entry's body (with its padding) still to come.
    body_left: u64,
    entries: u64,
    zero_blocks: u8,
    /// Both end blocks arrived: what follows (the padding to a record) is not looked at.
    ended: bool,
    malformed: Option<String>,
}

impl TarFraming {
    pub fn new() -> TarFraming {
        TarFraming::default()
    }

    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && !self.ended && self.malformed.is_none() {
            if self.body_left > 0 {
                let skip = self.body_left.min(bytes.len() as u64);
                self.body_left -= skip;
                bytes = &bytes[skip as usize..];
                continue;
            }
            let take = (BLOCK as usize - self.header.len()).min(bytes.len());
            self.header.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.header.len() == BLOCK as usize {
                let header = std::mem::take(&mut self.header);
                self.block(&header);
            }
        }
    }

    fn block(&mut self, header: &[u8]) {
        if header.iter().all(|b| *b == 0) {
            self.zero_blocks += 1;
            self.ended = self.zero_blocks == 2;
            return;
        }
        if self.zero_blocks > 0 {
            self.malformed = Some(format!("a zero block inside the archive, after entry {}", self.entries));
            return;
        }
        match entry_body(header) {
            Ok(body) => {
                self.entries += 1;
                self.body_left = body;
            }
            Err(problem) => self.malformed = Some(format!("header of entry {}: {problem}", self.entries + 1)),
        }
    }

    /// The verdict on the stream as fed so far, taken as all there is.
    pub fn end(&self) -> TarEnd {
        if let Some(problem) = &self.malformed {
            return TarEnd::Malformed(problem.clone());
        }
        if self.ended {
            return TarEnd::Complete { entries: self.entries };
        }
        let entries = self.entries;
        TarEnd::Cut(if self.body_left > 0 {
            format!("cut in the body of entry {entries}, {} bytes short", self.body_left)
        } else if !self.header.is_empty() {
            format!("cut in the header of entry {}", entries + 1)
        } else if entries == 0 && self.zero_blocks == 0 {
            "empty".to_string()
        } else {
            format!("no end-of-archive blocks after {entries} entries")
        })
    }
}

/// How a zstd frame of a tar stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameEnd {
    /// The frame ended with a matching checksum; the tar inside ended as this says.
    Whole(TarEnd),
    /// The tar inside reached the size bound, where its writer stops.
    AtBound,
    /// The frame stopped before its end.
    Cut(String),
    /// Not a zstd frame, a wrong checksum, or bytes after the frame.
    Malformed(String),
}

/// Bytes decoded at a time.
const DECODED_CHUNK: usize = 128 * 1024;

/// The largest window a frame may ask for: a checkpoint written at level 1 needs 512 KiB, and
/// the window is memory the decoder takes.
const WINDOW_LOG_MAX: u32 = 24;

/// Follows one zstd frame of a tar stream fed in pieces of any size.
pub struct FrameCheck {
    decoder: Option<Decoder<'static>>,
    decoded_chunk: Vec<u8>,
    tar: TarFraming,
    decoded: u64,
    max_decoded: u64,
    frame_ended: bool,
    malformed: Option<String>,
}

impl FrameCheck {
    /// Decoding stops after `max_decoded` bytes (the writer's own bound).
    pub fn new(max_decoded: u64) -> FrameCheck {
        let decoder = Decoder::new().and_then(|mut decoder| {
            decoder.set_parameter(DParameter::WindowLogMax(WINDOW_LOG_MAX))?;
            Ok(decoder)
        });
        let (decoder, malformed) = match decoder {
            Ok(decoder) => (Some(decoder), None),
            Err(error) => (None, Some(format!("zstd: {error}"))),
        };
        FrameCheck {
            decoder,
            decoded_chunk: vec![0; DECODED_CHUNK],
            tar: TarFraming::new(),
            decoded: 0,
            max_decoded,
            frame_ended: false,
            malformed,
        }
    }

    pub fn feed(&mut self, mut input: &[u8]) {
        let Some(decoder) = self.decoder.as_mut() else { return };
        while self.malformed.is_none() && self.decoded < self.max_decoded {
            if self.frame_ended {
                if !input.is_empty() {
                    self.malformed = Some("bytes after the end of the zstd frame".to_string());
                }
                return;
            }
            let mut source = InBuffer::around(input);
            let mut target = OutBuffer::around(self.decoded_chunk.as_mut_slice());
            let hint = match decoder.run(&mut source, &mut target) {
                Ok(hint) => hint,
                Err(error) => {
                    self.malformed = Some(format!("not a whole zstd frame: {error}"));
                    return;
                }
            };
            let (consumed, written) = (source.pos(), target.pos());
            self.tar.feed(&self.decoded_chunk[..written]);
            self.decoded += written as u64;
            input = &input[consumed..];
            self.frame_ended = hint == 0;
            // More decoded output may wait only when the chunk was filled.
            if input.is_empty() && written < self.decoded_chunk.len() && !self.frame_ended {
                return;
            }
        }
    }

    /// The verdict on the frame as fed so far, taken as all there is.
    pub fn end(&self) -> FrameEnd {
        if let Some(problem) = &self.malformed {
            return FrameEnd::Malformed(problem.clone());
        }
        let tar = self.tar.end();
        if self.frame_ended && matches!(tar, TarEnd::Complete { .. }) {
            return FrameEnd::Whole(tar);
        }
        if self.decoded >= self.max_decoded {
            return FrameEnd::AtBound;
        }
        if !self.frame_ended {
            return FrameEnd::Cut(format!("the zstd frame ends early, after {} bytes of tar", self.decoded));
        }
        FrameEnd::Whole(tar)
    }
}

/// The bytes an entry's body takes, padding included, from its header.
fn entry_body(header: &[u8]) -> Result<u64, String> {
    let stored = octal(&header[148..156]).ok_or("the checksum field is not a number")?;
    let computed: u64 = header
        .iter()
        .enumerate()
        .map(|(i, b)| if (148..156).contains(&i) { 32 } else { u64::from(*b) })
        .sum();
    if stored != computed {
        return Err(format!("checksum {stored} where the header sums to {computed}"));
    }
    let size = size(&header[124..136]).ok_or("the size field is not a number below 2^64")?;
    size.div_ceil(BLOCK).checked_mul(BLOCK).ok_or_else(|| format!("impossible size {size}"))
}

/// An octal number as tar writes it: digits, led by spaces, ended by a space or NUL.
fn octal(field: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(field).ok()?;
    let digits = text.trim_matches(|c| c == ' ' || c == '\0');
    if digits.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(digits, 8).ok()
}

/// The size field: octal, or (GNU, for sizes of 8 GiB and more) big-endian binary after a
/// leading byte with its high bit set.
fn size(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 == 0 {
        return octal(field);
    }
    if field[0] & 0x40 != 0 {
        return None;
    }
    let mut value: u64 = u64::from(field[0] & 0x3f);
    for byte in &field[1..] {
        value = value.checked_mul(256)?.checked_add(u64::from(*byte))?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// An archive as GNU tar writes one: entries, two zero blocks, padding to a 10 KiB record.
    fn archive(files: &[(&str, usize)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, size) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(*size as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, &vec![b'x'; *size][..]).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn verdict(bytes: &[u8]) -> TarEnd {
        let mut framing = TarFraming::new();
        framing.feed(bytes);
        framing.end()
    }

    fn sample() -> Vec<u8> {
        archive(&[("etc/passwd", 700), ("etc/hostname", 6), ("etc/empty", 0)])
    }

    #[test]
    fn a_whole_archive_is_complete() {
        assert_eq!(verdict(&sample()), TarEnd::Complete { entries: 3 });
        // What follows the end blocks (the record padding, or anything) is not looked at.
        let mut padded = sample();
        padded.extend([7u8; 3000]);
        assert_eq!(verdict(&padded), TarEnd::Complete { entries: 3 });
    }

    #[test]
    fn a_stream_cut_in_a_header_is_cut() {
        let whole = sample();
        let TarEnd::Cut(why) = verdict(&whole[..512 + 1024 + 100]) else { panic!() };
        assert!(why.contains("header of entry 2"), "{why}");
    }

    #[test]
    fn a_stream_cut_in_a_body_is_cut() {
        let whole = sample();
        let TarEnd::Cut(why) = verdict(&whole[..512 + 300]) else { panic!() };
        assert!(why.contains("body of entry 1") && why.contains("724 bytes short"), "{why}");
    }

    #[test]
    fn an_archive_without_its_end_blocks_is_cut() {
        let whole = sample();
        let entries = 512 + 1024 + 512 + 512 + 512;
        let TarEnd::Cut(why) = verdict(&whole[..entries]) else { panic!() };
        assert!(why.contains("no end-of-archive blocks after 3 entries"), "{why}");
        let TarEnd::Cut(why) = verdict(&whole[..entries + 512]) else { panic!() };
        assert!(why.contains("no end-of-archive"), "one zero block is not the end: {why}");
        assert_eq!(verdict(b""), TarEnd::Cut("empty".into()));
    }

    #[test]
    fn hostile_headers_are_malformed_not_followed() {
        let mut bad_sum = sample();
        bad_sum[0] ^= 1;
        assert!(matches!(verdict(&bad_sum), TarEnd::Malformed(why) if why.contains("checksum")));

        // Sizes binary encoding allows, beyond what any stream could hold.
        let with_size = |field: &[u8; 12]| {
            let mut bytes = sample();
            bytes[124..136].copy_from_slice(field);
            let sum: u64 = bytes[..512]
                .iter()
                .enumerate()
                .map(|(i, b)| if (148..156).contains(&i) { 32 } else { u64::from(*b) })
                .sum();
            bytes[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
            verdict(&bytes)
        };
        let mut beyond = [0xffu8; 12];
        beyond[0] = 0x80;
        assert!(matches!(with_size(&beyond), TarEnd::Malformed(why) if why.contains("below 2^64")));
        let mut largest = [0xffu8; 12];
        largest[..4].copy_from_slice(&[0x80, 0, 0, 0]);
        assert!(matches!(with_size(&largest), TarEnd::Malformed(why) if why.contains("impossible size")));
        let mut negative = [0u8; 12];
        negative[0] = 0xff;
        assert!(matches!(with_size(&negative), TarEnd::Malformed(_)), "negative sizes are not sizes");

        // A size that fits but exceeds the stream: cut, however much it claims.
        assert!(matches!(with_size(b"77777777777\0"), TarEnd::Cut(why) if why.contains("body of entry 1")));

        let text = b"root:x:0:0:root:/root:/bin/sh\n".repeat(40);
        assert!(matches!(verdict(&text), TarEnd::Malformed(_)), "not tar at all");
    }

    fn framed(bytes: &[u8], max_decoded: u64, piece: usize) -> FrameEnd {
        let mut check = FrameCheck::new(max_decoded);
        for chunk in bytes.chunks(piece) {
            check.feed(chunk);
        }
        check.end()
    }

    fn compressed(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = zstd::Encoder::new(Vec::new(), 1).unwrap();
        encoder.include_checksum(true).unwrap();
        std::io::Write::write_all(&mut encoder, bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn a_zstd_frame_of_a_whole_archive_is_whole_and_a_cut_one_is_cut() {
        // Larger than a decoded chunk, so that the decoder has output waiting between feeds.
        let tar = archive(&[("checkpoint/pages-1.img", 3 * DECODED_CHUNK + 17), ("config.dump", 40)]);
        let frame = compressed(&tar);
        for piece in [1, 7, 4096, frame.len()] {
            assert_eq!(framed(&frame, u64::MAX, piece), FrameEnd::Whole(TarEnd::Complete { entries: 2 }));
        }
        assert!(matches!(framed(&frame[..frame.len() - 5], u64::MAX, 512), FrameEnd::Cut(_)));
        assert!(matches!(framed(&frame[..frame.len() / 2], u64::MAX, 512), FrameEnd::Cut(_)));
        let cut_tar = compressed(&tar[..tar.len() / 2]);
        assert!(matches!(framed(&cut_tar, u64::MAX, 512), FrameEnd::Whole(TarEnd::Cut(_))));
    }

    #[test]
    fn a_changed_frame_or_bytes_after_it_are_malformed() {
        let frame = compressed(&archive(&[("config.dump", 4000)]));
        let mut changed = frame.clone();
        let last = changed.len() - 1;
        changed[last] ^= 1; // the checksum
        assert!(matches!(framed(&changed, u64::MAX, 64), FrameEnd::Malformed(_)));
        let mut followed = frame.clone();
        followed.extend_from_slice(b"more");
        assert!(matches!(framed(&followed, u64::MAX, 64), FrameEnd::Malformed(_)));
        assert!(matches!(framed(&sample(), u64::MAX, 64), FrameEnd::Malformed(_)));
    }

    #[test]
    fn decoding_stops_at_the_writers_bound() {
        let tar = archive(&[("checkpoint/pages-1.img", 1 << 20)]);
        let bound = 300_000;
        assert_eq!(framed(&compressed(&tar[..bound]), bound as u64, 1000), FrameEnd::AtBound);
        // A frame that decodes to more than the bound is not decoded past it.
        assert_eq!(framed(&compressed(&tar), bound as u64, 1000), FrameEnd::AtBound);
    }

    proptest! {
        #[test]
        fn any_cut_of_a_whole_archive_is_cut_and_pieces_do_not_matter(
            sizes in proptest::collection::vec(0usize..3000, 1..5),
            cut in 0usize..20_000,
            piece in 1usize..2000,
        ) {
            let names: Vec<String> = (0..sizes.len()).map(|i| format!("etc/f{i}")).collect();
            let files: Vec<(&str, usize)> = names.iter().map(String::as_str).zip(sizes.iter().copied()).collect();
            let whole = archive(&files);
            let end_of_archive = 512 * files.iter().map(|(_, s)| 1 + s.div_ceil(512)).sum::<usize>() + 1024;
            let cut = cut.min(whole.len());
            let mut framing = TarFraming::new();
            for chunk in whole[..cut].chunks(piece) {
                framing.feed(chunk);
            }
            if cut >= end_of_archive {
                prop_assert_eq!(framing.end(), TarEnd::Complete { entries: files.len() as u64 });
            } else {
                prop_assert!(matches!(framing.end(), TarEnd::Cut(_)), "{:?} at {}", framing.end(), cut);
            }
        }

        #[test]
        fn hostile_frames_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..6000), piece in 1usize..700) {
            let _ = framed(&bytes, 1 << 20, piece);
            let mut forged = zstd::zstd_safe::MAGICNUMBER.to_le_bytes().to_vec();
            forged.extend_from_slice(&bytes);
            let _ = framed(&forged, 1 << 20, piece);
        }

        #[test]
        fn hostile_streams_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..6000), piece in 1usize..700) {
            let mut framing = TarFraming::new();
            for chunk in bytes.chunks(piece) {
                framing.feed(chunk);
            }
            let _ = framing.end();
        }
    }
}
