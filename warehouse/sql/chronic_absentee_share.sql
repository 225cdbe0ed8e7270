-- Pupils on roll in the month (one row each in calc_pupil_months, in the lowest-coded
-- territory of their schools that month) and how many are chronically absent in the school
-- year to date.
SELECT territory_code, period, 'all' AS breakdown,
       SUM(chronic) AS units, SUM(chronic) AS numerator, COUNT(*) AS denominator
FROM calc_pupil_months
WHERE period IN :periods
GROUP BY territory_code, period
