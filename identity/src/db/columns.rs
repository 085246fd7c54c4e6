//! Column tables: a row type whose columns (name, select expression, SQL type, Rust type and so
//! nullability, count and order) are written once, and from which its statement's select list,
//! a typed null per column (for a union's rows that carry something else), and its decoder are
//! derived. Adding a column touches one line.

/// Declares a row struct from its columns, in select order:
///
/// ```text
/// column_table! {
///     pub struct Listed {
///         id: Uuid = "uuid",
///         org_slug: String = "text" from "o.slug",
///         last_login_at: Option<DateTime<Utc>> = "timestamptz",
///     }
/// }
/// ```
///
/// `from` gives the select expression when it is not the column itself. The row gets
/// `Listed::select_list()` (`id, o.slug as org_slug, last_login_at`), `Listed::nulls()`
/// (`null::uuid, null::text, null::timestamptz`), `Listed::COUNT`, and
/// `Listed::decode_at(row, first_column)`.
///
/// Decoding is by position and skips sqlx's per-value check of the declared type (the columns'
/// types are fixed by the select list derived here): looking each column up by name and checking
/// each value's type were about 4% and 5% of the server's CPU time on the Users tab
/// (bench/users-page). A value of the wrong width or encoding is still refused.
macro_rules! column_table {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$field_meta:meta])* $field:ident : $ty:ty = $sql_type:literal $(from $expr:literal)? ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( $(#[$field_meta])* pub $field: $ty, )+
        }

        #[allow(dead_code)]
        impl $name {
            /// How many columns the row has.
            pub(crate) const COUNT: usize = [$(stringify!($field)),+].len();
            /// Each column led by a comma: sliced off once by `select_list` and `nulls`.
            const SELECT: &'static str = concat!($(", ", $($expr, " as ",)? stringify!($field)),+);
            const NULLS: &'static str = concat!($(", null::", $sql_type),+);

            /// The select list, in the row's order.
            pub(crate) fn select_list() -> &'static str {
                &Self::SELECT[2..]
            }

            /// A typed null for each column, in the row's order.
            pub(crate) fn nulls() -> &'static str {
                &Self::NULLS[2..]
            }

            /// Reads the row from `row`'s columns `at..at + COUNT`.
            pub(crate) fn decode_at(row: &sqlx::postgres::PgRow, at: usize) -> sqlx::Result<Self> {
                use sqlx::Row as _;
                let mut column = at;
                let mut next = || {
                    column += 1;
                    column - 1
                };
                // Struct fields are evaluated in the order written: the select list's order.
                Ok($name {
                    $( $field: row.try_get_unchecked(next())?, )+
                })
            }
        }
    };
}

pub(crate) use column_table;

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use uuid::Uuid;

    column_table! {
        #[allow(dead_code)]
        struct Example {
            id: Uuid = "uuid",
            slug: String = "text" from "o.slug",
            seen_at: Option<DateTime<Utc>> = "timestamptz",
        }
    }

    #[test]
    fn the_select_list_nulls_and_count_follow_the_table() {
        assert_eq!(Example::select_list(), "id, o.slug as slug, seen_at");
        assert_eq!(Example::nulls(), "null::uuid, null::text, null::timestamptz");
        assert_eq!(Example::COUNT, 3);
    }
}
