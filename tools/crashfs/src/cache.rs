//! The dirty pages of one file: what was written but is not yet durable.
//!
//! Pure bookkeeping, no I/O: the caller supplies the backing file's bytes when
//! a page has to be filled (a write that covers only part of a page) and does
//! the writing back. Offsets are file offsets; pages are `PAGE` bytes, aligned.

use std::collections::BTreeMap;
use std::time::SystemTime;

/// Page size of our cache. 4 KiB: PostgreSQL writes 8 KiB blocks, so its
/// writes cover whole pages and never need a read of the backing file.
pub const PAGE: u64 = 4096;

pub type Page = Box<[u8]>;

/// The unsynced state of one file. Exists only while the file has dirty pages
/// (an empty `Dirty` is dropped by its owner).
#[derive(Debug)]
pub struct Dirty {
    /// Page index → the page's full content (backing bytes merged with the
    /// unsynced writes).
    pages: BTreeMap<u64, Page>,
    /// The file's size as the applications see it: at least the backing
    /// file's size (shrinking truncates reach the backing file at once).
    pub size: u64,
    /// Time of the last buffered write, reported as mtime while dirty.
    pub mtime: SystemTime,
}

impl Dirty {
    pub fn new(backing_size: u64) -> Self {
        Dirty {
            pages: BTreeMap::new(),
            size: backing_size,
            mtime: SystemTime::now(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    /// Memory held, in bytes (whole pages).
    pub fn bytes(&self) -> u64 {
        self.pages.len() as u64 * PAGE
    }

    /// Stores `data` at `offset`. `fill(index, page)` must fill a new page with
    /// the backing file's content (zeros past its end); it is called only for
    /// pages the write covers partially, and before anything changes, so a
    /// failed fill leaves the pages as they were. Returns the pages added.
    pub fn write<E>(
        &mut self,
        offset: u64,
        data: &[u8],
        mut fill: impl FnMut(u64, &mut [u8]) -> Result<(), E>,
    ) -> Result<u64, E> {
        let end = offset + data.len() as u64;
        if data.is_empty() {
            return Ok(0);
        }
        // Only the first and the last page can be covered partially.
        let mut filled = Vec::new();
        for index in [offset / PAGE, (end - 1) / PAGE] {
            let covered = offset <= index * PAGE && end >= (index + 1) * PAGE;
            if !covered
                && !self.pages.contains_key(&index)
                && !filled.iter().any(|(i, _)| *i == index)
            {
                let mut page = vec![0u8; PAGE as usize].into_boxed_slice();
                fill(index, &mut page)?;
                filled.push((index, page));
            }
        }
        let mut added = 0;
        let mut pos = offset;
        while pos < end {
            let index = pos / PAGE;
            let in_page = (pos % PAGE) as usize;
            let n = (PAGE as usize - in_page).min((end - pos) as usize);
            let page = self.pages.entry(index).or_insert_with(|| {
                added += 1;
                match filled.iter().position(|(i, _)| *i == index) {
                    Some(k) => filled.swap_remove(k).1,
                    None => vec![0u8; PAGE as usize].into_boxed_slice(),
                }
            });
            let from = (pos - offset) as usize;
            page[in_page..in_page + n].copy_from_slice(&data[from..from + n]);
            pos += n as u64;
        }
        self.size = self.size.max(end);
        self.mtime = SystemTime::now();
        Ok(added)
    }

    /// Copies bytes already written to the backing file (a synchronous write)
    /// into the pages that cover them, so that the pages stay the truth.
    pub fn patch(&mut self, offset: u64, data: &[u8]) {
        let end = offset + data.len() as u64;
        for (&index, page) in self.pages.range_mut(offset / PAGE..end.div_ceil(PAGE)) {
            let (from, to) = overlap(index, offset, end);
            page[(from - index * PAGE) as usize..(to - index * PAGE) as usize]
                .copy_from_slice(&data[(from - offset) as usize..(to - offset) as usize]);
        }
        self.size = self.size.max(end);
    }

    /// Overlays the dirty pages on `buf`, which holds the backing file's bytes
    /// from `offset` on (zeros past its end).
    pub fn overlay(&self, offset: u64, buf: &mut [u8]) {
        let end = offset + buf.len() as u64;
        for (&index, page) in self.pages.range(offset / PAGE..end.div_ceil(PAGE)) {
            let (from, to) = overlap(index, offset, end);
            buf[(from - offset) as usize..(to - offset) as usize].copy_from_slice(
                &page[(from - index * PAGE) as usize..(to - index * PAGE) as usize],
            );
        }
    }

    /// Applies a truncate to `size` (already applied to the backing file):
    /// pages past the end go, the tail of the last page becomes zeros, as a
    /// later extension must read them. Returns the number of pages removed.
    pub fn truncate(&mut self, size: u64) -> u64 {
        let removed = self.pages.split_off(&size.div_ceil(PAGE)).len() as u64;
        if size % PAGE != 0 {
            if let Some(page) = self.pages.get_mut(&(size / PAGE)) {
                page[(size % PAGE) as usize..].fill(0);
            }
        }
        self.size = size;
        removed
    }

    /// Removes and returns the pages as runs of consecutive pages, each run
    /// `(offset, bytes)` clipped to the file's size: what a writeback writes.
    pub fn take_runs(&mut self) -> Vec<(u64, Vec<u8>)> {
        let mut runs: Vec<(u64, Vec<u8>)> = Vec::new();
        for (index, page) in std::mem::take(&mut self.pages) {
            let offset = index * PAGE;
            if offset >= self.size {
                continue; // cannot happen: truncate removes such pages
            }
            let len = PAGE.min(self.size - offset) as usize;
            match runs.last_mut() {
                Some((start, bytes)) if *start + bytes.len() as u64 == offset => {
                    bytes.extend_from_slice(&page[..len])
                }
                _ => runs.push((offset, page[..len].to_vec())),
            }
        }
        runs
    }

    /// Puts back runs that could not be written (a failed writeback keeps
    /// the data dirty rather than losing it).
    pub fn restore_runs(&mut self, runs: Vec<(u64, Vec<u8>)>) {
        for (offset, bytes) in runs {
            for (i, chunk) in bytes.chunks(PAGE as usize).enumerate() {
                let mut page = vec![0u8; PAGE as usize].into_boxed_slice();
                page[..chunk.len()].copy_from_slice(chunk);
                // A page written again since the failure is newer: keep it.
                self.pages.entry(offset / PAGE + i as u64).or_insert(page);
            }
        }
    }
}

/// The part of page `index` inside the byte range `[start, end)`.
fn overlap(index: u64, start: u64, end: u64) -> (u64, u64) {
    (start.max(index * PAGE), end.min((index + 1) * PAGE))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file model: backing bytes plus a Dirty, read back through overlay.
    fn read(backing: &[u8], dirty: &Dirty, offset: u64, len: usize) -> Vec<u8> {
        let len = len.min(dirty.size.saturating_sub(offset) as usize);
        let mut buf = vec![0u8; len];
        for (i, b) in buf.iter_mut().enumerate() {
            *b = backing.get(offset as usize + i).copied().unwrap_or(0);
        }
        dirty.overlay(offset, &mut buf);
        buf
    }

    fn fill_from(backing: &[u8]) -> impl FnMut(u64, &mut [u8]) -> Result<(), ()> + '_ {
        move |index, page| {
            let start = (index * PAGE) as usize;
            for (i, b) in page.iter_mut().enumerate() {
                *b = backing.get(start + i).copied().unwrap_or(0);
            }
            Ok(())
        }
    }

    #[test]
    fn partial_write_keeps_backing_bytes_around_it() {
        let backing = vec![7u8; 10_000];
        let mut d = Dirty::new(backing.len() as u64);
        assert_eq!(d.write(5000, &[1, 2, 3], fill_from(&backing)).unwrap(), 1);
        let got = read(&backing, &d, 4990, 20);
        assert_eq!(&got[..10], &[7; 10]);
        assert_eq!(&got[10..13], &[1, 2, 3]);
        assert_eq!(&got[13..], &[7; 7]);
        assert_eq!(d.size, 10_000);
    }

    #[test]
    fn aligned_writes_do_not_read_the_backing_file_and_extend_the_size() {
        let mut d = Dirty::new(0);
        let added = d
            .write(8192, &[9u8; 8192], |_, _| -> Result<(), ()> {
                panic!("no fill expected")
            })
            .unwrap();
        assert_eq!(added, 2);
        assert_eq!(d.size, 16384);
        assert_eq!(read(&[], &d, 0, 8192), vec![0u8; 8192]);
        assert_eq!(read(&[], &d, 8192, 100_000), vec![9u8; 8192]);
    }

    #[test]
    fn truncate_zeroes_the_tail_so_a_later_extension_reads_zeros() {
        let mut d = Dirty::new(0);
        d.write(0, &[5u8; 3 * PAGE as usize], fill_from(&[]))
            .unwrap();
        assert_eq!(d.truncate(100), 2);
        assert_eq!(d.size, 100);
        d.write(2 * PAGE, &[1], fill_from(&[])).unwrap();
        let got = read(&[], &d, 0, 3 * PAGE as usize);
        assert_eq!(got.len(), 2 * PAGE as usize + 1);
        assert_eq!(&got[..100], &[5u8; 100]);
        assert!(got[100..2 * PAGE as usize].iter().all(|&b| b == 0));
        assert_eq!(got[2 * PAGE as usize], 1);
    }

    #[test]
    fn runs_are_merged_and_clipped_to_the_size() {
        let mut d = Dirty::new(0);
        d.write(0, &[1u8; 5000], fill_from(&[])).unwrap();
        d.write(3 * PAGE, &[2u8; 10], fill_from(&[])).unwrap();
        let runs = d.take_runs();
        assert!(d.is_empty());
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].0, 0);
        assert_eq!(runs[0].1.len(), 2 * PAGE as usize);
        assert_eq!(runs[1], (3 * PAGE, vec![2u8; 10]));
    }

    #[test]
    fn a_failed_fill_changes_nothing() {
        let mut d = Dirty::new(0);
        let r = d.write(100, &[1u8; 3 * PAGE as usize], |index, _| {
            if index == 3 {
                Err("no")
            } else {
                Ok(())
            }
        });
        assert_eq!(r, Err("no"));
        assert!(d.is_empty());
        assert_eq!(d.size, 0);
    }

    #[test]
    fn restore_keeps_newer_pages() {
        let mut d = Dirty::new(0);
        d.write(0, &[1u8; PAGE as usize], fill_from(&[])).unwrap();
        let runs = d.take_runs();
        d.write(0, &[2u8; 10], fill_from(&[])).unwrap(); // a newer write, page filled from zeros
        d.restore_runs(runs);
        assert_eq!(d.bytes(), PAGE);
        assert_eq!(read(&[], &d, 0, 11), [vec![2u8; 10], vec![0u8]].concat());
    }

    #[test]
    fn patch_updates_only_pages_that_exist() {
        let mut d = Dirty::new(0);
        d.write(PAGE, &[1u8; PAGE as usize], fill_from(&[]))
            .unwrap();
        d.patch(PAGE - 2, &[3u8; 4]);
        assert_eq!(d.bytes(), PAGE);
        let backing = {
            let mut b = vec![0u8; 2 * PAGE as usize];
            b[PAGE as usize - 2..PAGE as usize + 2].fill(3);
            b
        };
        let got = read(&backing, &d, PAGE - 2, 6);
        assert_eq!(got, vec![3, 3, 3, 3, 1, 1]);
    }
}
