//! The one SQL seam both backends implement, so that the hub's records beyond readings
//! (accounts, consent, delegations, audit, outbox) are written once, not per backend.
//!
//! Statements are written with SQLite's numbered placeholders (`?1`, `?2`, …) and the
//! portable subset of SQL that SQLite and PostgreSQL share; [`postgres_placeholders`]
//! turns `?N` into `$N` for PostgreSQL. Values are 64-bit integers or text; booleans are
//! stored as 0/1 and instants as microseconds since the Unix epoch (UTC).

use super::StoreError;

/// A parameter or a column value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlValue {
    /// A 64-bit integer.
    Int(i64),
    /// Text.
    Text(String),
    /// NULL in an integer column.
    NullInt,
    /// NULL in a text column.
    NullText,
}

impl SqlValue {
    /// The integer, if this is one.
    #[must_use]
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Self::Int(value) => Some(*value),
            _ => None,
        }
    }

    /// The text, if this is text.
    #[must_use]
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(value) => Some(value),
            _ => None,
        }
    }

    /// An optional integer parameter.
    #[must_use]
    pub fn opt_int(value: Option<i64>) -> Self {
        value.map_or(Self::NullInt, Self::Int)
    }

    /// An optional text parameter.
    #[must_use]
    pub fn opt_text(value: Option<&str>) -> Self {
        value.map_or(Self::NullText, |v| Self::Text(v.to_owned()))
    }
}

impl From<i64> for SqlValue {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<bool> for SqlValue {
    fn from(value: bool) -> Self {
        Self::Int(i64::from(value))
    }
}

impl From<&str> for SqlValue {
    fn from(value: &str) -> Self {
        Self::Text(value.to_owned())
    }
}

impl From<String> for SqlValue {
    fn from(value: String) -> Self {
        Self::Text(value)
    }
}

/// A database connection that runs portable statements.
pub trait Sql: Send {
    /// Runs a statement; returns the number of rows it changed.
    ///
    /// # Errors
    /// Database errors.
    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, StoreError>;

    /// Runs a query; returns its rows.
    ///
    /// # Errors
    /// Database errors.
    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, StoreError>;

    /// Runs `work` in one transaction: committed when it returns `Ok`, rolled back
    /// otherwise.
    ///
    /// # Errors
    /// `work`'s error, or database errors.
    fn transaction(
        &mut self,
        work: &mut dyn FnMut(&mut dyn Sql) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}

/// `?N` placeholders as PostgreSQL's `$N`. A `?` inside a quoted literal is left alone.
#[must_use]
pub fn postgres_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut in_literal = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_literal = !in_literal;
                out.push(c);
            }
            '?' if !in_literal && chars.peek().is_some_and(char::is_ascii_digit) => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}

impl Sql for rusqlite::Connection {
    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, StoreError> {
        let mut statement = self.prepare_cached(sql)?;
        Ok(statement.execute(rusqlite::params_from_iter(params.iter().map(sqlite_value)))? as u64)
    }

    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, StoreError> {
        let mut statement = self.prepare_cached(sql)?;
        let columns = statement.column_count();
        let rows = statement.query_map(
            rusqlite::params_from_iter(params.iter().map(sqlite_value)),
            |row| {
                (0..columns)
                    .map(|i| {
                        Ok(match row.get_ref(i)? {
                            rusqlite::types::ValueRef::Integer(v) => SqlValue::Int(v),
                            rusqlite::types::ValueRef::Text(t) => {
                                SqlValue::Text(String::from_utf8_lossy(t).into_owned())
                            }
                            rusqlite::types::ValueRef::Real(v) => SqlValue::Text(v.to_string()),
                            rusqlite::types::ValueRef::Null
                            | rusqlite::types::ValueRef::Blob(_) => SqlValue::NullText,
                        })
                    })
                    .collect::<Result<Vec<_>, rusqlite::Error>>()
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn transaction(
        &mut self,
        work: &mut dyn FnMut(&mut dyn Sql) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.execute_batch("BEGIN IMMEDIATE")?;
        match work(self) {
            Ok(()) => Ok(self.execute_batch("COMMIT")?),
            Err(error) => {
                let _ = self.execute_batch("ROLLBACK");
                Err(error)
            }
        }
    }
}

fn sqlite_value(value: &SqlValue) -> rusqlite::types::Value {
    match value {
        SqlValue::Int(v) => rusqlite::types::Value::Integer(*v),
        SqlValue::Text(t) => rusqlite::types::Value::Text(t.clone()),
        SqlValue::NullInt | SqlValue::NullText => rusqlite::types::Value::Null,
    }
}

impl Sql for postgres::Client {
    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, StoreError> {
        let sql = postgres_placeholders(sql);
        let boxed = postgres_params(params);
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            boxed.iter().map(|b| b.as_ref()).collect();
        Ok(postgres::Client::execute(self, sql.as_str(), &refs)?)
    }

    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, StoreError> {
        let sql = postgres_placeholders(sql);
        let boxed = postgres_params(params);
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            boxed.iter().map(|b| b.as_ref()).collect();
        let rows = postgres::Client::query(self, sql.as_str(), &refs)?;
        rows.iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| {
                        let ty = row.columns()[i].type_();
                        Ok(if *ty == postgres::types::Type::INT8 {
                            SqlValue::opt_int(row.try_get::<_, Option<i64>>(i)?)
                        } else if *ty == postgres::types::Type::INT4 {
                            SqlValue::opt_int(row.try_get::<_, Option<i32>>(i)?.map(i64::from))
                        } else {
                            row.try_get::<_, Option<String>>(i)?
                                .map_or(SqlValue::NullText, SqlValue::Text)
                        })
                    })
                    .collect()
            })
            .collect()
    }

    fn transaction(
        &mut self,
        work: &mut dyn FnMut(&mut dyn Sql) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.batch_execute("BEGIN")?;
        match work(self) {
            Ok(()) => Ok(self.batch_execute("COMMIT")?),
            Err(error) => {
                let _ = self.batch_execute("ROLLBACK");
                Err(error)
            }
        }
    }
}

fn postgres_params(params: &[SqlValue]) -> Vec<Box<dyn postgres::types::ToSql + Sync>> {
    params
        .iter()
        .map(|value| -> Box<dyn postgres::types::ToSql + Sync> {
            match value {
                SqlValue::Int(v) => Box::new(*v),
                SqlValue::Text(t) => Box::new(t.clone()),
                SqlValue::NullInt => Box::new(None::<i64>),
                SqlValue::NullText => Box::new(None::<String>),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dollars_outside_literals() {
        assert_eq!(
            postgres_placeholders("SELECT ?1, '?2' FROM t WHERE a = ?12 AND b = ?"),
            "SELECT $1, '?2' FROM t WHERE a = $12 AND b = ?"
        );
    }
}
