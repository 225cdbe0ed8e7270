-- Incidents of the month (numerator and units) and of the same month a year earlier.
WITH counts AS (
    SELECT territory_code, period, category, SUM("count") AS n
    FROM police_incidents
    WHERE (period IN :periods OR period IN :year_earlier_periods)
      AND reference_period IS NULL  -- records only: aggregate rows are not added
    GROUP BY territory_code, period, category
)
SELECT c.territory_code, p.period, c.category AS breakdown,
       SUM(CASE WHEN c.period = p.period THEN c.n ELSE 0 END) AS units,
       SUM(CASE WHEN c.period = p.period THEN c.n ELSE 0 END) AS numerator,
       SUM(CASE WHEN c.period = p.year_earlier_period THEN c.n ELSE 0 END) AS denominator
FROM counts c
JOIN calc_periods p ON c.period = p.period OR c.period = p.year_earlier_period
GROUP BY c.territory_code, p.period, c.category
