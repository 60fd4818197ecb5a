//! The tree checks (step 5 of the audit): every stored tree tile, leaves included, equals
//! the tile recomputed from the entries, and the recomputed tree keeps only its frontier.

use ledger_merkle::{Tile, TileId, TILE_HEIGHT, TILE_WIDTH};

use super::report::{AuditReport, Finding, FindingKind};
use super::run::{AuditStop, Auditor, Step};

impl Auditor<'_> {
    /// Leaf `seqno` as the stored tree holds it.
    pub(super) fn stored_leaf(&mut self, seqno: u64) -> Step<[u8; 32]> {
        let id = TileId {
            row: 0,
            index: seqno / TILE_WIDTH,
        };
        if self.leaf_tile.as_ref().map(Tile::id) != Some(id)
            || self
                .leaf_tile
                .as_ref()
                .is_some_and(|t| t.width() <= seqno % TILE_WIDTH)
        {
            self.leaf_tile = self.load_tile(id, seqno)?;
        }
        let offset = seqno % TILE_WIDTH;
        match self.leaf_tile.as_ref().and_then(|t| t.node(0, offset)) {
            Some(leaf) => Ok(*leaf),
            None => Err(Finding::at(
                FindingKind::TileMismatch,
                seqno,
                format!("leaf {seqno} in stored tile row 0 index {}", id.index),
                match &self.leaf_tile {
                    Some(t) => format!("a tile of {} leaves", t.width()),
                    None => "no tile".to_owned(),
                },
            )
            .into()),
        }
    }

    pub(super) fn load_tile(&self, id: TileId, seqno: u64) -> Step<Option<Tile>> {
        self.store.load_tile(id).map_err(|e| {
            AuditStop::Finding(Finding::at(
                FindingKind::StoreCorruption,
                seqno,
                format!("a readable tree tile row {} index {}", id.row, id.index),
                e.to_string(),
            ))
        })
    }

    /// Hands out the recomputed tiles, compares them with the stored ones, and prunes the
    /// recomputed tree down to its frontier.
    pub(super) fn compare_tiles(&mut self, report: &mut AuditReport) -> Step {
        report.peak_tree_nodes = report.peak_tree_nodes.max(self.tree.nodes_in_memory());
        let tiles = self.tree.take_dirty_tiles();
        let size = self.tree.len();
        self.tree.prune(size);
        if !self.options.check_tiles || self.suspect.is_some() {
            return Ok(());
        }
        for tile in tiles {
            let id = tile.id();
            let first_leaf = first_leaf_of(id, 0, 0);
            let stored = self
                .load_tile(id, first_leaf)?
                .and_then(|t| t.truncated(size));
            report.tiles += 1;
            let Some(stored) = stored else {
                return Err(Finding::at(
                    FindingKind::TileMismatch,
                    first_leaf,
                    format!("stored tree tile row {} index {}", id.row, id.index),
                    "no tile",
                )
                .into());
            };
            for (h, (ours, theirs)) in tile.levels().iter().zip(stored.levels()).enumerate() {
                if let Some(offset) = ours
                    .iter()
                    .zip(theirs.iter())
                    .position(|(a, b)| a != b)
                    .or_else(|| {
                        (ours.len() != theirs.len()).then_some(ours.len().min(theirs.len()))
                    })
                {
                    let leaf = first_leaf_of(id, h as u8, offset as u64);
                    return Err(Finding::at(
                        FindingKind::TileMismatch,
                        leaf,
                        format!(
                            "tree node at level {} covering leaves from {leaf}: {}",
                            u32::from(id.row) * u32::from(TILE_HEIGHT) + h as u32,
                            ours.get(offset)
                                .map_or_else(|| "present".to_owned(), hex::encode)
                        ),
                        theirs
                            .get(offset)
                            .map_or_else(|| "absent".to_owned(), hex::encode),
                    )
                    .into());
                }
            }
        }
        Ok(())
    }
}

/// The first leaf under the node at `height` levels above the bottom of tile `id`, `offset`
/// nodes from its left edge.
fn first_leaf_of(id: TileId, height: u8, offset: u64) -> u64 {
    let level = u32::from(id.row) * u32::from(TILE_HEIGHT) + u32::from(height);
    let bottom_index = id
        .index
        .saturating_mul(TILE_WIDTH >> height)
        .saturating_add(offset);
    bottom_index.checked_shl(level).unwrap_or(u64::MAX)
}
