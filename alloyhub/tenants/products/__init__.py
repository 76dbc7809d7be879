"""Products in the plant's own words (alloy, temper, gauge, width, coil
weight), their routings and the set-up (change-over) rules of the units."""
