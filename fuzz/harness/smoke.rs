//! The seeded generator and byte mutator shared by the stable smoke runs of the fuzz targets
//! (`crates/{query,policy}/tests/fuzz_smoke.rs`).

/// xorshift64*: the same inputs for the same seed on every machine.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    #[allow(dead_code)]
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Byte-level damage, one to three times: cut, duplicate a slice of up to `max_dup` bytes, or
/// replace a byte with one of `alphabet`.
pub fn mutate(rng: &mut Rng, text: &str, max_dup: usize, alphabet: &[u8]) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..1 + rng.below(3) {
        if bytes.is_empty() {
            break;
        }
        let at = rng.below(bytes.len());
        match rng.below(3) {
            0 => bytes.truncate(at),
            1 => {
                let end = (at + rng.below(max_dup)).min(bytes.len());
                let slice = bytes[at..end].to_vec();
                bytes.splice(at..at, slice);
            }
            _ => bytes[at] = alphabet[rng.below(alphabet.len())],
        }
    }
    bytes
}
