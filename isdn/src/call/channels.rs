//! The B-channels of one PRI span and the call reference values this side allocates.

use std::collections::BTreeSet;

/// The framing of the span, which fixes its B-channel numbers (Q.931 §4.5.13: the channel
/// number is the timeslot).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Interface {
    /// T1 (1.544 Mbit/s, 23B+D): B-channels 1-23, the D-channel on timeslot 24.
    T1,
    /// E1 (2.048 Mbit/s, 30B+D): B-channels 1-15 and 17-31, the D-channel on timeslot 16.
    E1,
}

impl Interface {
    /// Whether `b` is a B-channel of this interface.
    pub fn is_b_channel(self, b: u8) -> bool {
        match self {
            Interface::T1 => (1..=23).contains(&b),
            Interface::E1 => (1..=31).contains(&b) && b != 16,
        }
    }

    /// The B-channel numbers, ascending (23 on a T1, 30 on an E1).
    pub fn b_channels(self) -> impl DoubleEndedIterator<Item = u8> {
        (1..=31u8).filter(move |&b| self.is_b_channel(b))
    }

    /// The bitmap of all its B-channels (bit b = timeslot b), [`super::CallConfig::usable`]'s
    /// default.
    pub fn all(self) -> u32 {
        self.b_channels().fold(0, |m, b| m | 1 << b)
    }
}

/// Which B-channels may carry calls and which are in use: bitmaps of timeslots 1-31.
#[derive(Clone, Copy, Debug)]
pub(super) struct BChannels {
    interface: Interface,
    usable: u32,
    busy: u32,
}

impl BChannels {
    pub(super) fn new(interface: Interface, usable: u32) -> Self {
        BChannels {
            interface,
            usable,
            busy: 0,
        }
    }

    fn is_usable(&self, b: u8) -> bool {
        self.interface.is_b_channel(b) && b < 32 && self.usable & (1 << b) != 0
    }

    pub(super) fn is_free(&self, b: u8) -> bool {
        self.is_usable(b) && self.busy & (1 << b) == 0
    }

    /// Marks `b` busy; `false` if it is no B-channel or already busy.
    pub(super) fn take(&mut self, b: u8) -> bool {
        let free = self.is_free(b);
        if free {
            self.busy |= 1 << b;
        }
        free
    }

    pub(super) fn free(&mut self, b: u8) {
        if self.is_usable(b) {
            self.busy &= !(1 << b);
        }
    }

    /// A free channel: the lowest from the network side, the highest from the user side, so
    /// that the two ends of the interface collide (glare) only on the last free channel.
    pub(super) fn pick(&self, lowest: bool) -> Option<u8> {
        let mut all = self.interface.b_channels();
        if lowest {
            all.find(|&b| self.is_free(b))
        } else {
            all.rev().find(|&b| self.is_free(b))
        }
    }

    pub(super) fn busy_count(&self) -> usize {
        self.busy.count_ones() as usize
    }
}

/// The 15-bit call reference values this side allocates (Q.931 §4.3): never 0 (the global
/// call reference), never one still in use, round robin so that a value just released is not
/// reused at once (a late message on it must not reach the next call).
#[derive(Clone, Debug)]
pub(super) struct CallReferences {
    next: u16,
    used: BTreeSet<u16>,
}

/// Call reference values of one side: 1..=0x7fff.
const MAX_VALUE: u16 = 0x7fff;

impl CallReferences {
    pub(super) fn new() -> Self {
        CallReferences {
            next: 1,
            used: BTreeSet::new(),
        }
    }

    /// A free value, `None` when all 32,767 are in use.
    pub(super) fn take(&mut self) -> Option<u16> {
        if self.used.len() >= usize::from(MAX_VALUE) {
            return None;
        }
        loop {
            let v = self.next;
            self.next = if v >= MAX_VALUE { 1 } else { v + 1 };
            if self.used.insert(v) {
                return Some(v);
            }
        }
    }

    pub(super) fn free(&mut self, v: u16) {
        self.used.remove(&v);
    }

    pub(super) fn in_use(&self) -> usize {
        self.used.len()
    }
}
