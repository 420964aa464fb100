CREATE TABLE `vpn_rotations` (
	`deployment_id` text NOT NULL,
	`instance` integer NOT NULL,
	`public_key` text NOT NULL,
	`router` text NOT NULL,
	`detail` text NOT NULL,
	`rotated_at` text NOT NULL,
	`rotated_by` text NOT NULL,
	`checked_at` text,
	PRIMARY KEY(`deployment_id`, `instance`),
	FOREIGN KEY (`deployment_id`) REFERENCES `deployments`(`id`) ON UPDATE no action ON DELETE cascade
);
