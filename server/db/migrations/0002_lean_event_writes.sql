DROP INDEX `steps_state`;--> statement-breakpoint
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_events` (
	`id` integer PRIMARY KEY NOT NULL,
	`deployment_id` text NOT NULL,
	`at` text NOT NULL,
	`type` text NOT NULL,
	`step_key` text,
	`message` text NOT NULL,
	FOREIGN KEY (`deployment_id`) REFERENCES `deployments`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
INSERT INTO `__new_events`("id", "deployment_id", "at", "type", "step_key", "message") SELECT "id", "deployment_id", "at", "type", "step_key", "message" FROM `events`;--> statement-breakpoint
DROP TABLE `events`;--> statement-breakpoint
ALTER TABLE `__new_events` RENAME TO `events`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `events_deployment` ON `events` (`deployment_id`,`id`);