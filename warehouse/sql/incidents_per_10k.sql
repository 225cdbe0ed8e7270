-- Police incidents (records x count) per territory, month and category, over population.
WITH counts AS (
    SELECT territory_code, period, category, SUM("count") AS n
    FROM police_incidents
    WHERE period IN (SELECT period FROM calc_periods)
    GROUP BY territory_code, period, category
)
SELECT t.code AS territory_code, p.period, c.code AS breakdown,
       COALESCE(counts.n, 0) AS units,
       COALESCE(counts.n, 0) AS numerator,
       pop.population AS denominator
FROM calc_leaves t
CROSS JOIN calc_periods p
CROSS JOIN (SELECT code FROM code_list_values WHERE list = 'incident_category') c
LEFT JOIN counts
    ON counts.territory_code = t.code AND counts.period = p.period AND counts.category = c.code
LEFT JOIN territory_population pop ON pop.code = t.code AND pop.year = p.year
