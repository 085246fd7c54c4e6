//! Keyset paging: lists read newest first by id, so page 1,000 costs what page 1 does.

/// Splits a keyset page fetched with `limit + 1` rows into the page and the cursor for the next
/// (older) one, if there is one.
pub fn keyset_page<T>(mut rows: Vec<T>, limit: i64, id: impl Fn(&T) -> i64) -> (Vec<T>, Option<i64>) {
    if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        let cursor = rows.last().map(&id);
        (rows, cursor)
    } else {
        (rows, None)
    }
}
