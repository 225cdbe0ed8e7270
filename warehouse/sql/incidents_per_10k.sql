-- Police incidents (records x count) per leaf territory, month and category.
SELECT territory_code, period, category AS breakdown,
       SUM("count") AS units, SUM("count") AS numerator
FROM police_incidents
WHERE period IN :periods
      AND reference_period IS NULL  -- records only: aggregate rows are not added
GROUP BY territory_code, period, category
