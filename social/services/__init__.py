"""Social write operations. Webhook views, tasks and admin actions all go through these functions."""
