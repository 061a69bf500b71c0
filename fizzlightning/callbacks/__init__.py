"""Lightning callbacks any model can use: the dashboards, the stopping rule, predict's CSV file."""
