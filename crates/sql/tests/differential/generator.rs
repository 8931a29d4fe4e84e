//! The seeded generator of tables and statements. Every statement is SQL
//! both engines read with the same meaning: literals carry explicit types,
//! orderings name their NULL placement, windows and limits order by every
//! column so ties cannot differ.

/// SplitMix64: small, fast, and the same sequence for a seed everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// 0..n
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// The columns of every generated table, in order.
pub const COLUMNS: [(&str, &str); 9] = [
    ("id", "INT"),
    ("k", "INT"),
    ("txt", "VARCHAR"),
    ("amt", "DECIMAL(10,2)"),
    ("dd", "DATE"),
    ("ts", "TIMESTAMP"),
    ("x", "DOUBLE"),
    ("flag", "BOOLEAN"),
    ("grp", "INT"),
];

const TEXTS: [&str; 8] = ["a", "b", "ab", "", "Zürich", "x y", "it's", "B"];

/// How a table is laid out in silt (DuckDB ignores it).
#[derive(Debug, Clone)]
pub struct Layout {
    pub partitioned: bool,
    pub deletion_vectors: bool,
    pub column_mapping: bool,
}

impl Layout {
    pub fn random(r: &mut Rng) -> Self {
        Self {
            partitioned: r.chance(50),
            deletion_vectors: r.chance(50),
            column_mapping: r.chance(35),
        }
    }

    /// `PARTITIONED BY … TBLPROPERTIES …` for silt's CREATE TABLE.
    pub fn clauses(&self) -> String {
        let mut out = String::new();
        if self.partitioned {
            out.push_str(" PARTITIONED BY (grp)");
        }
        let mut props = Vec::new();
        if self.deletion_vectors {
            props.push("'delta.enableDeletionVectors' = 'true'");
        }
        if self.column_mapping {
            props.push("'delta.columnMapping.mode' = 'name'");
        }
        if !props.is_empty() {
            out.push_str(&format!(" TBLPROPERTIES ({})", props.join(", ")));
        }
        out
    }

    pub fn describe(&self) -> String {
        format!(
            "partitioned={} dv={} column_mapping={}",
            self.partitioned, self.deletion_vectors, self.column_mapping
        )
    }
}

/// A typed literal of column `i`'s type (NULL sometimes).
pub fn literal(r: &mut Rng, i: usize, nulls: u64) -> String {
    let ty = COLUMNS[i].1;
    if r.chance(nulls) {
        return format!("CAST(NULL AS {ty})");
    }
    match COLUMNS[i].0 {
        "id" => r.range(0, 40).to_string(),
        "k" => r.range(0, 5).to_string(),
        "txt" => format!("'{}'", r.pick(&TEXTS).replace('\'', "''")),
        "amt" => {
            let cents = r.range(-2000, 2000) * 25;
            let sign = if cents < 0 { "-" } else { "" };
            let a = cents.abs();
            format!("CAST('{sign}{}.{:02}' AS DECIMAL(10,2))", a / 100, a % 100)
        }
        "dd" => format!("DATE '2024-01-{:02}'", r.range(1, 28)),
        "ts" => format!(
            "TIMESTAMP '2024-01-{:02} {:02}:{:02}:00.{:06}'",
            r.range(1, 5),
            r.range(0, 23),
            r.range(0, 59),
            r.range(0, 3) * 250_000
        ),
        "x" => format!("CAST({} AS DOUBLE)", r.range(-20, 20) as f64 * 0.5),
        "flag" => if r.chance(50) { "TRUE" } else { "FALSE" }.to_string(),
        _ => r.range(0, 2).to_string(), // grp
    }
}

/// A row of literals.
pub fn row(r: &mut Rng, id: Option<i64>) -> String {
    let mut vals = Vec::new();
    for i in 0..COLUMNS.len() {
        match (i, id) {
            (0, Some(id)) => vals.push(id.to_string()),
            _ => vals.push(literal(r, i, 15)),
        }
    }
    format!("({})", vals.join(", "))
}

/// `INSERT INTO {table} VALUES …` of `n` rows with ids from `next_id`
/// (a NULL or repeated id sometimes).
pub fn insert_values(r: &mut Rng, table: &str, n: usize, next_id: &mut i64) -> String {
    let rows: Vec<String> = (0..n)
        .map(|_| {
            let id = if r.chance(5) {
                None
            } else if r.chance(8) {
                Some(r.range(0, *next_id))
            } else {
                *next_id += 1;
                Some(*next_id)
            };
            row(r, id)
        })
        .collect();
    format!("INSERT INTO {table} VALUES {}", rows.join(", "))
}

/// A condition on the columns of `q` (a qualifier, or "" for bare names).
pub fn predicate(r: &mut Rng, q: &str, depth: u32) -> String {
    if depth > 0 && r.chance(35) {
        let a = predicate(r, q, depth - 1);
        let b = predicate(r, q, depth - 1);
        return match r.below(3) {
            0 => format!("({a} AND {b})"),
            1 => format!("({a} OR {b})"),
            _ => format!("(NOT {a})"),
        };
    }
    let c = |name: &str| {
        if q.is_empty() {
            name.to_string()
        } else {
            format!("{q}.{name}")
        }
    };
    let i = r.below(COLUMNS.len() as u64) as usize;
    let col = c(COLUMNS[i].0);
    match r.below(6) {
        0 => format!("{col} IS NULL"),
        1 => format!("{col} IS NOT NULL"),
        2 if COLUMNS[i].0 == "flag" => col,
        2 | 3 => {
            let op = r.pick(&["=", "<>", "<", "<=", ">", ">="]);
            format!("{col} {op} {}", literal(r, i, 0))
        }
        4 if COLUMNS[i].0 == "txt" => {
            format!("{col} LIKE '{}%'", r.pick(&["a", "", "Z", "x"]))
        }
        4 => format!(
            "{col} BETWEEN {} AND {}",
            literal(r, i, 0),
            literal(r, i, 0)
        ),
        _ => {
            let vals: Vec<String> = (0..r.range(1, 3)).map(|_| literal(r, i, 0)).collect();
            format!("{col} IN ({})", vals.join(", "))
        }
    }
}

/// A condition on target `t` that may hold a subquery over `s`.
pub fn target_condition(r: &mut Rng) -> String {
    let plain = predicate(r, "t", 2);
    if !r.chance(40) {
        return plain;
    }
    let sub = match r.below(7) {
        0 => format!("t.k IN (SELECT k FROM s WHERE {})", predicate(r, "s", 1)),
        1 => "t.id NOT IN (SELECT id FROM s WHERE id IS NOT NULL)".to_string(),
        2 => format!(
            "EXISTS (SELECT 1 FROM s WHERE s.k = t.k AND {})",
            predicate(r, "s", 1)
        ),
        3 => "t.id > (SELECT avg(id) FROM s)".to_string(),
        4 => "t.k IN (SELECT k FROM s GROUP BY k HAVING count(*) > 1)".to_string(),
        5 => "NOT EXISTS (SELECT 1 FROM s WHERE s.id = t.id)".to_string(),
        _ => "t.amt < (SELECT max(s.amt) FROM s WHERE s.grp = t.grp)".to_string(),
    };
    match r.below(3) {
        0 => sub,
        1 => format!("{sub} AND {plain}"),
        _ => format!("({plain}) AND ({sub})"),
    }
}

/// A new value for column `i` of target `t`, from `src` when given.
pub fn value(r: &mut Rng, i: usize, src: Option<&str>) -> String {
    let name = COLUMNS[i].0;
    if let Some(src) = src
        && r.chance(45)
    {
        return format!("{src}.{name}");
    }
    if r.chance(25) {
        return literal(r, i, 20);
    }
    match name {
        "id" => format!("t.id + {}", r.range(1, 50)),
        "k" => r
            .pick(&["t.k + 1", "coalesce(t.k, 0) * 2", "CAST(NULL AS INT)"])
            .to_string(),
        "txt" => r
            .pick(&[
                "concat(t.txt, 'x')",
                "upper(t.txt)",
                "coalesce(t.txt, '')",
                "t.txt || '!'",
                "CASE WHEN t.k > 2 THEN 'big' ELSE t.txt END",
            ])
            .to_string(),
        "amt" => r
            .pick(&[
                "t.amt + CAST('1.25' AS DECIMAL(10,2))",
                "t.amt * 2",
                "-t.amt",
            ])
            .to_string(),
        "x" => r
            .pick(&["t.x + CAST(0.5 AS DOUBLE)", "t.x * 2", "-t.x"])
            .to_string(),
        "flag" => r
            .pick(&["NOT t.flag", "t.k > 2", "t.flag IS NULL"])
            .to_string(),
        "grp" => r
            .pick(&["(t.grp + 1) % 3", "coalesce(t.grp, 0)"])
            .to_string(),
        _ => format!("t.{name}"),
    }
}

/// SET assignments of one to three distinct columns.
pub fn assignments(r: &mut Rng, src: Option<&str>) -> String {
    let mut cols: Vec<usize> = Vec::new();
    for _ in 0..r.range(1, 3) {
        let i = r.below(COLUMNS.len() as u64) as usize;
        if !cols.contains(&i) {
            cols.push(i);
        }
    }
    cols.iter()
        .map(|&i| format!("{} = {}", COLUMNS[i].0, value(r, i, src)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn all_columns(q: &str) -> String {
    COLUMNS
        .iter()
        .map(|(n, _)| format!("{q}{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Orders by every column, NULLs placed explicitly: ties are identical rows.
fn total_order(q: &str) -> String {
    COLUMNS
        .iter()
        .map(|(n, _)| format!("{q}{n} ASC NULLS LAST"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A MERGE source of one of the shapes, with every column, and its name.
pub fn merge_source(r: &mut Rng) -> (&'static str, String) {
    let cols = all_columns("");
    match r.below(8) {
        0 => ("table", "s".to_string()),
        1 => {
            let rows: Vec<String> = (0..r.range(1, 4))
                .map(|_| {
                    let id = if r.chance(10) {
                        None
                    } else {
                        Some(r.range(0, 40))
                    };
                    row(r, id)
                })
                .collect();
            (
                "values",
                format!("(SELECT * FROM (VALUES {}) AS v({cols}))", rows.join(", ")),
            )
        }
        2 => (
            "aggregate",
            "(SELECT id, max(k) AS k, max(txt) AS txt, sum(amt) AS amt, min(dd) AS dd, \
             max(ts) AS ts, sum(x) AS x, bool_or(flag) AS flag, min(grp) AS grp \
             FROM s GROUP BY id)"
                .to_string(),
        ),
        3 => ("distinct", format!("(SELECT DISTINCT {cols} FROM s)")),
        4 => (
            "union_all",
            format!(
                "(SELECT {cols} FROM s WHERE id < 15 UNION ALL SELECT {cols} FROM s WHERE id >= 15)"
            ),
        ),
        5 => (
            "join",
            format!(
                "(SELECT s.id, coalesce(c.n, 0) AS k, s.txt, s.amt, s.dd, s.ts, s.x, s.flag, s.grp \
                 FROM s LEFT JOIN (SELECT k, CAST(count(*) AS INT) AS n FROM t GROUP BY k) AS c ON s.k = c.k \
                 WHERE {})",
                predicate(r, "s", 1)
            ),
        ),
        6 => (
            "window",
            format!(
                "(SELECT {cols} FROM (SELECT {cols}, row_number() OVER (PARTITION BY id ORDER BY {}) AS rn FROM s) AS w \
                 WHERE rn = 1)",
                total_order("")
            ),
        ),
        _ => (
            "order_limit",
            format!(
                "(SELECT {cols} FROM s ORDER BY {} LIMIT {})",
                total_order(""),
                r.range(1, 12)
            ),
        ),
    }
}

/// The clause kinds of a MERGE, for the duplicate-match oracle.
pub struct MergeStatement {
    pub sql: String,
    /// `USING … AS src ON …` and the matched clauses as (condition, is_update).
    pub source: String,
    pub on: String,
    pub matched: Vec<(String, bool)>,
    pub shape: &'static str,
}

pub fn merge(r: &mut Rng) -> MergeStatement {
    let (shape, source) = merge_source(r);
    let on = if r.chance(20) {
        "t.id = src.id AND t.grp = src.grp".to_string()
    } else {
        "t.id = src.id".to_string()
    };
    let mut clauses = Vec::new();
    let mut matched = Vec::new();
    // Each kind: conditional clauses, then at most one unconditional last.
    for kind in 0..3 {
        let n = r.below(3);
        for j in 0..n {
            let last = j + 1 == n;
            let cond = if last && r.chance(50) {
                None
            } else {
                Some(match kind {
                    0 => {
                        let q = if r.chance(50) { "t" } else { "src" };
                        predicate(r, q, 1)
                    }
                    1 => predicate(r, "src", 1),
                    _ => predicate(r, "t", 1),
                })
            };
            let and = cond
                .as_ref()
                .map(|c| format!(" AND {c}"))
                .unwrap_or_default();
            let clause = match kind {
                // The star forms, rarely.
                0 if r.chance(4) => {
                    matched.push((cond.clone().unwrap_or_else(|| "TRUE".into()), true));
                    format!("WHEN MATCHED{and} THEN UPDATE SET *")
                }
                1 if r.chance(4) => format!("WHEN NOT MATCHED{and} THEN INSERT *"),
                0 => {
                    let update = r.chance(65);
                    matched.push((cond.clone().unwrap_or_else(|| "TRUE".into()), update));
                    if update {
                        format!(
                            "WHEN MATCHED{and} THEN UPDATE SET {}",
                            assignments(r, Some("src"))
                        )
                    } else {
                        format!("WHEN MATCHED{and} THEN DELETE")
                    }
                }
                1 => {
                    if r.chance(60) {
                        format!(
                            "WHEN NOT MATCHED{and} THEN INSERT ({}) VALUES ({})",
                            all_columns(""),
                            all_columns("src.")
                        )
                    } else {
                        format!(
                            "WHEN NOT MATCHED{and} THEN INSERT (id, txt, grp) VALUES (src.id, {}, src.grp)",
                            r.pick(&["src.txt", "'new'", "concat(src.txt, '+')"])
                        )
                    }
                }
                _ => {
                    if r.chance(50) {
                        format!(
                            "WHEN NOT MATCHED BY SOURCE{and} THEN UPDATE SET {}",
                            assignments(r, None)
                        )
                    } else {
                        format!("WHEN NOT MATCHED BY SOURCE{and} THEN DELETE")
                    }
                }
            };
            clauses.push(clause);
        }
    }
    if clauses.is_empty() {
        clauses.push("WHEN MATCHED THEN DELETE".to_string());
        matched.push(("TRUE".into(), false));
    }
    let sql = format!(
        "MERGE INTO t USING {source} AS src ON {on} {}",
        clauses.join(" ")
    );
    MergeStatement {
        sql,
        source,
        on,
        matched,
        shape,
    }
}

impl MergeStatement {
    /// A DuckDB query counting target rows that two source rows would
    /// change with at least one update: the rows silt must refuse.
    pub fn duplicate_query(&self) -> Option<String> {
        if self.matched.is_empty() {
            return None;
        }
        let mut case = String::from("CASE");
        for (cond, update) in &self.matched {
            case.push_str(&format!(
                " WHEN {cond} THEN '{}'",
                if *update { "U" } else { "D" }
            ));
        }
        case.push_str(" END");
        Some(format!(
            "SELECT count(*) FROM (SELECT t.rowid AS r, {case} AS act FROM t JOIN {} AS src ON {}) AS m \
             GROUP BY r HAVING sum(CASE WHEN act = 'U' THEN 1 ELSE 0 END) >= 1 AND count(act) >= 2",
            self.source, self.on
        ))
    }
}

/// One statement of the differential run.
pub enum Statement {
    /// A query: its rows are compared.
    Select(String),
    /// INSERT, UPDATE, DELETE: the affected count and the table compared.
    Write {
        kind: &'static str,
        sql: String,
    },
    Merge(MergeStatement),
    /// `CREATE TABLE {c} AS …` (silt names `{c}` by path).
    CreateAs(String),
}

pub fn statement(r: &mut Rng, next_id: &mut i64) -> Statement {
    match r.below(100) {
        0..=14 => Statement::Select(format!(
            "SELECT {} FROM t WHERE {}",
            all_columns(""),
            predicate(r, "", 2)
        )),
        15..=19 => Statement::Select(format!(
            "SELECT k, count(*), sum(amt), min(dd), max(ts), count(DISTINCT txt) FROM t WHERE {} GROUP BY k",
            predicate(r, "", 1)
        )),
        20..=24 => {
            let sql = if r.chance(50) {
                let n = r.range(1, 4) as usize;
                insert_values(r, "t", n, next_id)
            } else {
                format!(
                    "INSERT INTO t SELECT {} FROM s WHERE {}",
                    all_columns(""),
                    predicate(r, "s", 1)
                )
            };
            Statement::Write {
                kind: "insert",
                sql,
            }
        }
        25..=28 => Statement::CreateAs(format!(
            "CREATE TABLE {{c}} AS SELECT k, grp, count(*) AS n, sum(amt) AS total, max(txt) AS top FROM t WHERE {} GROUP BY k, grp",
            predicate(r, "", 1)
        )),
        29..=46 => Statement::Write {
            kind: "update",
            sql: format!(
                "UPDATE t SET {} WHERE {}",
                assignments(r, None),
                target_condition(r)
            ),
        },
        47..=49 => Statement::Write {
            kind: "update_from",
            sql: format!(
                "UPDATE t SET txt = u.txt, k = u.k FROM (SELECT id, max(txt) AS txt, max(k) AS k FROM s GROUP BY id) AS u \
                 WHERE t.id = u.id AND {}",
                predicate(r, "t", 1)
            ),
        },
        50 => Statement::Write {
            kind: "update",
            // A correlation that is not an equality.
            sql: "UPDATE t SET k = 0 WHERE t.id > (SELECT avg(s.id) FROM s WHERE s.grp <> t.grp)"
                .into(),
        },
        51..=58 => Statement::Write {
            kind: "delete",
            sql: format!("DELETE FROM t WHERE {}", target_condition(r)),
        },
        _ => Statement::Merge(merge(r)),
    }
}
