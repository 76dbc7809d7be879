"""Edge agents of a plant: registry, enrolment, broker credentials and access
control, tag catalogue, configuration and commands pushed down."""
