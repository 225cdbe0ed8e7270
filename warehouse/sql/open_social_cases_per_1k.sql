-- Cases open on the last day of each month, without a range join over every case:
-- open at the end of month M = cases opened in or before M - cases also closed in or before M
-- (a case closed on day D is no longer open at the end of D's month). A case counts as closed
-- in the later of its two months, so a closing date before the opening one cannot go negative.
-- Cases closed before the first month computed add +1 and -1 to every month computed: left out.
-- Closing months are grouped as numbers first: formatting millions of dates is the slow part.
WITH cases AS (
    SELECT territory_code, period, EXTRACT(YEAR FROM closed_date) AS closed_year,
           EXTRACT(MONTH FROM closed_date) AS closed_month, COUNT(*) AS n
    FROM social_cases
    WHERE period <= :last_period AND (closed_date IS NULL OR closed_date >= :first_day)
      AND "count" IS NULL  -- records only: aggregate rows are not added
    GROUP BY territory_code, period, EXTRACT(YEAR FROM closed_date),
             EXTRACT(MONTH FROM closed_date)
), changes AS (
    SELECT territory_code, period AS month, n AS delta
    FROM cases
    UNION ALL
    SELECT territory_code,
           GREATEST(period, CAST(CAST(closed_year AS INTEGER) AS VARCHAR) || '-'
                            || LPAD(CAST(CAST(closed_month AS INTEGER) AS VARCHAR), 2, '0')),
           -n
    FROM cases
    WHERE closed_year IS NOT NULL
)
SELECT c.territory_code, p.period, 'all' AS breakdown,
       SUM(c.delta) AS units, SUM(c.delta) AS numerator
FROM changes c
JOIN calc_periods p ON c.month <= p.period
GROUP BY c.territory_code, p.period
