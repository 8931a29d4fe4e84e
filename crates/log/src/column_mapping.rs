//! Column mapping: the table properties that select it, the ids and
//! physical names every field gets (`delta.columnMapping.id`,
//! `delta.columnMapping.physicalName`) when a mapped table is created or
//! gains columns, and the names new columns are given.

use serde_json::Value;

use crate::environment::Environment;
use crate::schema::{
    COLUMN_MAPPING_ID_KEY, COLUMN_MAPPING_PHYSICAL_NAME_KEY, DataType, StructField, StructType,
};

pub use crate::properties::{COLUMN_MAPPING_MAX_ID, COLUMN_MAPPING_MODE};

/// Gives every field (nested ones too) a column-mapping id and physical
/// name. `physical` picks the name of a field that has none. Returns the
/// highest id in use.
pub fn assign_column_mapping(
    schema: &mut StructType,
    mut max_id: i64,
    physical: &dyn Fn(&StructField) -> String,
) -> i64 {
    fn visit_type(t: &mut DataType, max_id: &mut i64, physical: &dyn Fn(&StructField) -> String) {
        match t {
            DataType::Struct(s) => visit(&mut s.fields, max_id, physical),
            DataType::Array(a) => visit_type(&mut a.element_type, max_id, physical),
            DataType::Map(m) => {
                visit_type(&mut m.key_type, max_id, physical);
                visit_type(&mut m.value_type, max_id, physical);
            }
            _ => {}
        }
    }
    fn visit(
        fields: &mut [StructField],
        max_id: &mut i64,
        physical: &dyn Fn(&StructField) -> String,
    ) {
        for f in fields {
            if f.column_mapping_id().is_none() {
                *max_id += 1;
                f.metadata
                    .insert(COLUMN_MAPPING_ID_KEY.into(), Value::from(*max_id));
            }
            if f.physical_name().is_none() {
                let name = physical(f);
                f.metadata
                    .insert(COLUMN_MAPPING_PHYSICAL_NAME_KEY.into(), Value::from(name));
            }
            visit_type(&mut f.data_type, max_id, physical);
        }
    }
    // Ids already present count towards the maximum.
    fn highest(fields: &[StructField], acc: &mut i64) {
        for f in fields {
            if let Some(id) = f.column_mapping_id() {
                *acc = (*acc).max(id);
            }
            let mut t = &f.data_type;
            loop {
                match t {
                    DataType::Struct(s) => {
                        highest(&s.fields, acc);
                        break;
                    }
                    DataType::Array(a) => t = &a.element_type,
                    DataType::Map(m) => {
                        if let DataType::Struct(s) = &m.key_type {
                            highest(&s.fields, acc);
                        }
                        t = &m.value_type;
                    }
                    _ => break,
                }
            }
        }
    }
    highest(&schema.fields, &mut max_id);
    visit(&mut schema.fields, &mut max_id, physical);
    max_id
}

/// A fresh physical name for a new column (`col-<uuid>`, as Spark names them).
pub fn physical_name(env: &dyn Environment) -> String {
    format!("col-{}", env.new_id())
}
