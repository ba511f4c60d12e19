//! A worker's connection table: a `slab::Slab` whose keys carry a generation. Slab keys
//! are reused at once, so a message addressed to `(key, gen)` must not reach the next
//! connection that happens to get `key`; `get_mut` checks the generation.

use slab::Slab;

/// Values stored under `(key, gen)` addresses.
#[derive(Debug)]
pub(crate) struct Slots<T> {
    slab: Slab<(u32, T)>,
    /// Generation the next occupant of each key gets; bumped on removal.
    gens: Vec<u32>,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots {
            slab: Slab::new(),
            gens: Vec::new(),
        }
    }
}

impl<T> Slots<T> {
    /// Stores the value `make` builds from its address; returns the address.
    pub(crate) fn insert_with(&mut self, make: impl FnOnce(u32, u32) -> T) -> (u32, u32) {
        let entry = self.slab.vacant_entry();
        let key = entry.key();
        if self.gens.len() <= key {
            self.gens.resize(key + 1, 0);
        }
        let gen = self.gens[key];
        entry.insert((gen, make(key as u32, gen)));
        (key as u32, gen)
    }

    /// The value at `key` if it is still generation `gen`.
    pub(crate) fn get_mut(&mut self, key: u32, gen: u32) -> Option<&mut T> {
        match self.slab.get_mut(key as usize) {
            Some((g, v)) if *g == gen => Some(v),
            _ => None,
        }
    }

    /// The value at `key` whatever its generation, with that generation (socket events
    /// carry only the key, and a socket's token is unique while it is registered).
    pub(crate) fn get_any_mut(&mut self, key: u32) -> Option<(u32, &mut T)> {
        self.slab.get_mut(key as usize).map(|(g, v)| (*g, v))
    }

    /// Removes the value at `key`; the key's next occupant gets a new generation.
    pub(crate) fn remove(&mut self, key: u32) -> Option<T> {
        let (gen, value) = self.slab.try_remove(key as usize)?;
        if let Some(g) = self.gens.get_mut(key as usize) {
            *g = gen.wrapping_add(1);
        }
        Some(value)
    }

    /// Number of occupied slots.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slab.len()
    }

    /// Whether no slot is occupied.
    pub(crate) fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }

    /// Every occupied key.
    pub(crate) fn keys(&self) -> Vec<u32> {
        self.slab.iter().map(|(k, _)| k as u32).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_key_gets_a_new_generation_and_stale_addresses_miss() {
        let mut s = Slots::default();
        let (k1, g1) = s.insert_with(|_, _| "first");
        assert_eq!(s.remove(k1), Some("first"));
        let (k2, g2) = s.insert_with(|_, _| "second");
        assert_eq!(k1, k2, "slab reuses the key at once");
        assert_ne!(g1, g2);
        assert_eq!(
            s.get_mut(k1, g1),
            None,
            "stale generation must not reach the new occupant"
        );
        assert_eq!(s.get_mut(k2, g2).copied(), Some("second"));
    }

    #[test]
    fn removing_twice_or_a_missing_key_is_harmless() {
        let mut s: Slots<u8> = Slots::default();
        assert_eq!(s.remove(3), None);
        let (k, _) = s.insert_with(|_, _| 7);
        assert_eq!(s.remove(k), Some(7));
        assert_eq!(s.remove(k), None);
        assert!(s.is_empty());
    }

    #[test]
    fn distinct_live_values_get_distinct_keys() {
        let mut s = Slots::default();
        let a = s.insert_with(|_, _| 1);
        let b = s.insert_with(|_, _| 2);
        assert_ne!(a.0, b.0);
        assert_eq!(s.len(), 2);
        assert_eq!(s.get_any_mut(b.0).map(|(g, v)| (g, *v)), Some((b.1, 2)));
    }
}
