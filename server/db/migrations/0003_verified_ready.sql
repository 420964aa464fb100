CREATE TABLE `sim_draws` (
	`platform_id` text NOT NULL,
	`key` text NOT NULL,
	`n` integer NOT NULL,
	PRIMARY KEY(`platform_id`, `key`)
);
--> statement-breakpoint
ALTER TABLE `deployments` ADD `requested` text;--> statement-breakpoint
ALTER TABLE `sim_machines` ADD `first_boot` text;