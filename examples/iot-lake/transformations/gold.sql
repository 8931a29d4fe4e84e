-- Gold: per site and UTC day, over every valid reading, each device counted
-- at its current site; readings of deleted devices are left out.

CREATE MATERIALIZED VIEW gold.site_daily
COMMENT 'Readings, distinct devices and temperature per site and day'
AS SELECT d.site,
          CAST(r.ts AS DATE) AS day,
          COUNT(*) AS readings,
          COUNT(DISTINCT r.device_id) AS devices,
          AVG(r.temperature) AS avg_temp,
          MIN(r.temperature) AS min_temp,
          MAX(r.temperature) AS max_temp
FROM silver.readings r
JOIN silver.devices d ON r.device_id = d.device_id
GROUP BY d.site, CAST(r.ts AS DATE);
