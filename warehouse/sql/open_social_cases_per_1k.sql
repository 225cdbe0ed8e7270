-- Social-services cases open on the last day of the month, over population.
SELECT t.code AS territory_code, p.period, 'all' AS breakdown,
       COUNT(s.case_id) AS units,
       COUNT(s.case_id) AS numerator,
       MAX(pop.population) AS denominator
FROM calc_leaves t
CROSS JOIN calc_periods p
LEFT JOIN social_cases s
    ON s.territory_code = t.code
   AND s.opened_date <= p.period_end
   AND (s.closed_date IS NULL OR s.closed_date > p.period_end)
LEFT JOIN territory_population pop ON pop.code = t.code AND pop.year = p.year
GROUP BY t.code, p.period
