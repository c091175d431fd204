import { ProcessRunner } from "../../system/command.js";
import { storageDriverSuite } from "../conformance.js";
import { OverlayDriver } from "./overlay.js";

storageDriverSuite("overlay", (root) => OverlayDriver.open(root, new ProcessRunner()));
