-- Bronze: what landed, as it landed. Every JSON field is a string; a line
-- that is not a JSON object is kept (in _corrupt_record), never dropped.

CREATE OR REFRESH STREAMING TABLE bronze.readings_raw
COMMENT 'IoT readings as they landed, one row per line'
AS SELECT device_id, ts, temperature, humidity, battery, fw,
          _corrupt_record,
          _metadata.file_path AS _source_file,
          _metadata.line_number AS _line,
          now() AS _ingested_at
FROM STREAM read_files('${landing}/readings', format => 'json');

CREATE OR REFRESH STREAMING TABLE bronze.readings_quarantine
COMMENT 'Landing lines that are not JSON objects'
AS SELECT _source_file, _line, _corrupt_record AS raw, _ingested_at
FROM STREAM(bronze.readings_raw)
WHERE _corrupt_record IS NOT NULL;

-- The device registry's change feed; a malformed change fails the update.
CREATE OR REFRESH STREAMING TABLE bronze.devices_changes (
  CONSTRAINT well_formed_change EXPECT (_corrupt_record IS NULL) ON VIOLATION FAIL UPDATE
)
COMMENT 'Device registry changes (UPSERT / DELETE) as they landed'
AS SELECT device_id, site, model, op, updated_at, _corrupt_record,
          _metadata.file_path AS _source_file,
          now() AS _ingested_at
FROM STREAM read_files('${landing}/devices', format => 'json');
