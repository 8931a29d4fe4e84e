-- Silver: typed, validated, deduplicated readings, and the device registry.

CREATE TEMPORARY VIEW readings_typed (
  CONSTRAINT valid_ts EXPECT (ts IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT valid_temperature EXPECT (temperature BETWEEN -60 AND 80) ON VIOLATION DROP ROW
)
AS SELECT device_id,
          arrow_cast(ts, 'Timestamp(µs, "UTC")') AS ts,
          TRY_CAST(temperature AS DOUBLE) AS temperature,
          TRY_CAST(humidity AS DOUBLE) AS humidity,
          TRY_CAST(battery AS DOUBLE) AS battery,
          fw
FROM STREAM(bronze.readings_raw)
WHERE _corrupt_record IS NULL;

-- One row per (device_id, ts): a resent reading, in this batch or a later
-- one, changes nothing (its sequence is not newer).
CREATE OR REFRESH STREAMING TABLE silver.readings
COMMENT 'Valid readings, one per device and time';

CREATE FLOW readings_dedup AS AUTO CDC INTO silver.readings
FROM STREAM(readings_typed)
KEYS (device_id, ts)
SEQUENCE BY ts
STORED AS SCD TYPE 1;

CREATE TEMPORARY VIEW device_changes AS
SELECT device_id, site, model, op,
       arrow_cast(updated_at, 'Timestamp(µs, "UTC")') AS updated_at
FROM STREAM(bronze.devices_changes);

-- The current registry: the newest change per device wins, whatever the
-- order changes arrive in; a DELETE removes the device.
CREATE OR REFRESH STREAMING TABLE silver.devices
COMMENT 'Each live device and its current site (SCD type 1)';

CREATE FLOW devices_scd1 AS AUTO CDC INTO silver.devices
FROM STREAM(device_changes)
KEYS (device_id)
APPLY AS DELETE WHEN op = 'DELETE'
SEQUENCE BY updated_at
COLUMNS * EXCEPT (op)
STORED AS SCD TYPE 1;

-- Every site a device has been on, with when (SCD type 2).
CREATE OR REFRESH STREAMING TABLE silver.devices_history
COMMENT 'Device registry history (SCD type 2)';

CREATE FLOW devices_scd2 AS AUTO CDC INTO silver.devices_history
FROM STREAM(device_changes)
KEYS (device_id)
APPLY AS DELETE WHEN op = 'DELETE'
SEQUENCE BY updated_at
COLUMNS * EXCEPT (op)
STORED AS SCD TYPE 2
TRACK HISTORY ON site, model;
