//! Reading a record's fields.

use super::Placed;

pub(super) struct Reader<'a>(pub(super) &'a [u8]);

impl<'a> Reader<'a> {
    pub(super) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    pub(super) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    pub(super) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    pub(super) fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    pub(super) fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u32()?).ok()?;
        self.take(n)
    }

    pub(super) fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }

    /// A delivery's order when `ordered`: `Some(None)` when not, `None` when it does not read.
    #[allow(clippy::option_option)]
    pub(super) fn placed(&mut self, ordered: bool) -> Option<Option<Placed<'a>>> {
        if !ordered {
            return Some(None);
        }
        let stream = self.str()?;
        let at = self.i64()?;
        let serial = match self.take(1)? {
            [0] => false,
            [1] => true,
            _ => return None,
        };
        Some(Some((stream, at, serial)))
    }
}
